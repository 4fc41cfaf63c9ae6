"""The round driver: the only code that knows the order of the stages."""
