"""al_ray: find the examples an LLM classifier is least sure about, get them labelled, fine-tune, repeat.

Data flows through files with written schemas (``al_ray.schemas``) under one run location:
corpus shards -> scoring -> score shards -> selection -> labelling batch -> labels -> finetune ->
new weights -> scoring (next round). Stages never import one another; only ``al_ray.driver``
knows their order.
"""

__version__ = "0.1.0"
