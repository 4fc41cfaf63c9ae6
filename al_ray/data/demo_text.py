"""Templates and word lists for the demo moderation corpus ("violating vs neither").

Kept apart from the generator so the *policy* (which kinds are violating) is readable in one
place. The gold rule, applied per kind (see ``KINDS``):

    A message is **violating** when, in its own voice, it insults or demeans a person: the
    addressee, a third person, or an opponent — sarcasm and gaming banter included.
    It is **neither** when the rough words are not aimed at a person in its own voice:
    profanity used as an intensifier ("this song is f***ing awesome"), insults about things or
    situations, self-deprecation, quoted or reported insults, negated insults ("I would never
    call you an idiot"), reclaimed in-group words, and banter carrying an explicit affection
    marker ("you absolute muppet, love you").

The ambiguous kinds share their vocabulary with the abusive ones, so a bag-of-words model cannot
separate them; simulated annotators split their votes on them (experts disagree there too).
Insults are deliberately mild (no slurs): the demo must be safe to show anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

NEITHER = "neither"
VIOLATING = "violating"
DEMO_LABELS = (NEITHER, VIOLATING)


@dataclass(frozen=True)
class Kind:
    """One family of messages: its gold label, whether it is ambiguous, and its templates.

    ``agree`` is the probability that one simulated annotator votes the gold label.
    """

    name: str
    label: str
    ambiguous: bool
    agree: float
    templates: tuple[str, ...]


NAMES = (
    "Maya", "Liam", "Noah", "Emma", "Olivia", "Ava", "Lucas", "Mia", "Ethan", "Zoe", "Aria", "Leo",
    "Chloe", "Omar", "Priya", "Kenji", "Sofia", "Diego", "Hana", "Amir", "Fatima", "Jonas", "Ingrid",
    "Tariq", "Mei", "Ravi", "Nina", "Oscar", "Lena", "Marco", "Aisha", "Tom", "Grace", "Jack", "Ruby",
    "Sam", "Alex", "Jordan", "Taylor", "Casey", "Riley", "Kai", "Nora", "Felix", "Iris", "Hugo",
    "Elena", "Mateo", "Yusuf", "Chen", "Ada", "Ben", "Clara", "Dev", "Eli", "Freya", "Gus", "Ivy",
)
HANDLE_SUFFIX = ("", "_", "92", "_x", "official", "2k", "88", "_irl", "writes", "lol", "99", "_tv")

EMOJI_POS = ("😂", "😍", "🔥", "🙌", "✨", "💯", "😊", "🥳", "👏", "❤️", "🤩", "😎", "🎉", "👌")
EMOJI_NEG = ("🙄", "😤", "😒", "🤦", "😑", "🤡", "💀")
EMOJI_NEUTRAL = ("☕", "🌧️", "🐶", "🐱", "🍕", "🎮", "📚", "🚌", "⚽", "🎧", "🌮", "🏃", "🌞", "📸")

FOODS = ("pizza", "ramen", "tacos", "pho", "banana bread", "sourdough", "curry", "burrito", "sushi",
         "pancakes", "falafel", "mac and cheese", "lasagna", "dumplings", "iced coffee", "matcha latte",
         "smoothie", "grilled cheese", "chili", "avocado toast", "bagel", "cinnamon roll", "paella")
PLACES = ("the new place downtown", "my favorite cafe", "the farmers market", "the food truck by work",
          "grandma's house", "the corner deli", "that tiny diner", "the airport", "the beach shack",
          "the library cafe", "the night market", "campus")
ADJ_POS = ("amazing", "so good", "incredible", "perfect", "unreal", "the best", "wonderful", "lovely",
           "awesome", "fantastic", "great", "beautiful", "top tier", "elite", "chef's kiss")
THINGS = ("song", "album", "movie", "show", "game", "book", "podcast", "concert", "trailer",
          "new season", "soundtrack", "documentary", "episode", "playlist", "remix")
WEATHER = ("rainy", "foggy", "freezing", "humid", "windy", "snowy", "grey", "scorching")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
PETS = ("dog", "cat", "puppy", "kitten", "hamster", "parrot", "rabbit", "goldfish")
PET_ACTS = ("stole my sock", "learned to open the fridge", "is snoring next to me", "knocked my plant over",
            "refuses to get off my laptop", "barked at a leaf for ten minutes", "found the sunny spot",
            "ate a whole slice of toast", "is wearing a tiny sweater")
SPORTS = ("soccer", "basketball", "tennis", "cricket", "hockey", "baseball", "volleyball", "rugby")
TEAMS = ("the Hawks", "the Rovers", "City", "United", "the Tigers", "the Sharks", "the Comets", "the Owls")
DEVICES = ("laptop", "printer", "phone", "wifi", "router", "bus app", "smart speaker", "coffee machine",
           "headphones", "game controller", "tablet", "microwave")
ITEMS = ("keys", "wallet", "umbrella", "lunch", "charger", "headphones", "badge", "water bottle", "notes")
CITIES = ("Lisbon", "Tokyo", "Denver", "Nairobi", "Oslo", "Montreal", "Seoul", "Austin", "Dublin",
          "Mexico City", "Cape Town", "Melbourne", "Istanbul", "Edinburgh", "Hanoi")
ACTIVITIES = ("hiking", "baking", "running", "painting", "knitting", "gardening", "climbing", "cycling",
              "journaling", "swimming", "birdwatching", "studying", "coding", "yoga", "cooking")
HASHTAGS = ("#mondaymood", "#foodie", "#tbt", "#weekendvibes", "#gamedev", "#booktok", "#nofilter",
            "#coffee", "#running", "#petsofinstagram", "#travel", "#music", "#worklife", "#gaming",
            "#selfcare", "#studygram", "#goals", "#blessed", "#rainyday", "#fitness")
GAMES = ("ranked", "the raid", "solo queue", "the final round", "overtime", "the boss fight", "arena")

INSULT_ADJ = ("worthless", "pathetic", "useless", "brainless", "clueless", "stupid", "miserable",
              "spineless", "hopeless", "ridiculous", "dim")
INSULT_NOUN = ("idiot", "moron", "loser", "clown", "fool", "joke", "nitwit", "muppet", "dope",
               "buffoon", "dimwit")
RECLAIMED = ("nerds", "weirdos", "geeks", "dorks", "misfits", "freaks", "goblins")
PROFANE_INTENS = ("f***ing", "damn", "freaking", "bloody", "effing", "f*cking")
AFFECTION = ("love you", "miss you", "never change", "best friend ever", "my favorite person", "ily")
PUBLIC = ("the referee", "my landlord", "that influencer", "the new manager", "the guy in 4B",
          "that streamer", "the mayor", "the ticket guy", "my neighbor", "the coach")

# Benign chatter appended to any message (including abusive ones) so length is not a cue.
FILLERS = (
    "anyway", "also the {food} at {place} was {adj_pos}", "need more {food} in my life",
    "going {activity} later if the weather holds", "it is so {weather} in {city} today",
    "my {pet} {pet_act}", "{team} play tonight", "can't wait for the weekend",
    "who else is watching the {thing} tonight", "back to {activity} tomorrow",
    "just finished my {food}", "did anyone else sleep badly", "trying to drink more water",
    "the bus was late again", "work has been a lot this week", "ok bye",
    "send {food} recommendations", "listening to the new {thing} on repeat",
)

CLEAR_BENIGN = (
    "just tried the {food} at {place} and it was {adj_pos} {emoji_pos}",
    "my {pet} {pet_act} {emoji_neutral}",
    "anyone know a good {food} spot in {city}?",
    "this {thing} is {adj_pos}, highly recommend",
    "{day} plans: {activity}, {food}, sleep",
    "so {weather} in {city} today {emoji_neutral}",
    "{team} won again!! what a game {emoji_pos}",
    "watching {sports} with the family tonight",
    "happy birthday @{handle}!! have the best day {emoji_pos}",
    "finally booked my trip to {city} {emoji_pos}",
    "started {activity} again after a year off, legs are jelly",
    "does anyone else put hot sauce on {food}",
    "good morning {emoji_neutral} coffee first, then {activity}",
    "@{handle} thanks for the {thing} recommendation, loved it",
    "new {device} arrived today, setting it up now",
    "reading a {adj_pos} book about {city}",
    "{name} made {food} for everyone at work {emoji_pos}",
    "lost my {item} again, third time this week",
    "the sunset over {city} tonight was {adj_pos}",
    "congrats @{handle} on the new job!!",
    "my {pet} and I are going {activity} this {day}",
    "can't decide between {food} and {food2} for dinner",
    "our {sports} team finally has new jerseys",
    "{thing} night with {name} and {name2}",
    "is it too early for {food}? asking for a friend",
    "shoutout to {name} for fixing my {device}",
    "studying for exams, send {food}",
    "weekend in {city} was {adj_pos} {emoji_pos}",
    "first time trying {activity}, not bad at all",
    "who's coming to the {sports} match on {day}?",
    "feeling good today {emoji_pos}",
    "lovely {day} everyone",
    "rain again lol",
    "{food} {emoji_pos}",
    "new episode tonight!!",
    "back from {city}, so tired but happy",
    "@{handle} see you at {place} at 7?",
    "that {thing} ending though {emoji_pos}",
    "volunteering at the shelter this {day}, come help",
    "grateful for good friends and {food}",
)

CLEAR_ABUSIVE = (
    "@{handle} you are a {insult_adj} {insult_noun}",
    "nobody asked you, {insult_noun}",
    "shut up you {insult_adj} {insult_noun}",
    "{name} is the most {insult_adj} {insult_noun} I have ever met",
    "you're so {insult_adj}, just log off {emoji_neg}",
    "honestly @{handle} you are {insult_adj} and everyone knows it",
    "go away {insult_noun}, nobody likes you",
    "imagine being this {insult_adj}. couldn't be me. what a {insult_noun}",
    "@{handle} delete your account, you {insult_adj} {insult_noun}",
    "every word you say proves you're a {insult_noun}",
    "you {insult_adj} {insult_noun}, get a life",
    "{name} you are a waste of space",
    "what a {insult_adj} thing to post, you absolute {insult_noun} {emoji_neg}",
    "@{handle} nobody wants you here, {insult_noun}",
)

PROFANITY_POSITIVE = (
    "this {thing} is {profane} {adj_pos} {emoji_pos}",
    "holy sh*t this {food} is {profane} incredible",
    "{name} you {profane} legend, that was {adj_pos}",
    "{team} are {profane} unstoppable this season {emoji_pos}",
    "that {thing} slaps so {profane} hard",
    "{profane} finally finished my thesis {emoji_pos}",
)
QUOTED_INSULT = (
    'someone in the comments called me a "{insult_adj} {insult_noun}" lol whatever',
    'why do people reply "you are a {insult_noun}" to everything online',
    'he literally said "shut up you {insult_adj} {insult_noun}" to a waiter, unbelievable',
    'the villain in this {thing} keeps saying "you {insult_adj} {insult_noun}" and it is iconic',
    'my little brother just learned the word "{insult_noun}" and uses it on the {pet}',
    'reporting every account that called {name} a "{insult_noun}", not ok',
    '"you {insult_adj} {insult_noun}" is not an argument, people',
    'got called a {insult_noun} in traffic today for letting a bus go first {emoji_neg}',
)
NEGATED_INSULT = (
    "I would never call you an {insult_noun}, {name}",
    "you're not {insult_adj} at all, don't listen to them",
    "nobody thinks you're a {insult_noun}, promise {emoji_pos}",
    "@{handle} you are not a {insult_noun}, you just had a bad day",
    "calling people {insult_adj} never helps anyone",
    "{name} is no {insult_noun}, she literally runs the whole team",
    "you {insult_adj} {insult_noun}? no. you are brilliant and I won't hear otherwise",
    "@{handle} nobody here thinks you're {insult_adj}",
)
SELF_DEPRECATING = (
    "I'm such an {insult_noun}, forgot my {item} again",
    "me: a {insult_adj} {insult_noun} who burns toast {emoji_pos}",
    "ok I'm officially the biggest {insult_noun} in {city}, got on the wrong train",
    "my brain is {insult_adj} today, sent the email to the whole company",
    "what a {insult_noun} I am, locked myself out again",
    "wow great job me, truly a genius move, I'm such a {insult_noun}",
    "I played {game} like a {insult_adj} bot today lol",
    "imagine being this {insult_adj}. couldn't be me. oh wait it's me",
)
THINGS_INSULT = (
    "this {device} is {insult_adj} garbage",
    "{day} is a {insult_noun} of a day",
    "my {device} is a {insult_adj} piece of junk {emoji_neg}",
    "this {weather} weather is {insult_adj}",
    "that {thing} ending was {insult_adj}, who wrote this",
    "the {device} update is {profane} {insult_adj}",
    "{device} is a total {insult_noun} today",
    "this {device} is the most {insult_adj} thing alive",
    "can't believe this {device} still works, what a {insult_noun}",
)
AFFECTIONATE_BANTER = (
    "{name} you absolute {insult_noun} {emoji_pos} {affection}",
    "shut up {insult_noun} ❤️ {affection}",
    "@{handle} you're such a {insult_noun} lol {affection}",
    "my best friend is a {insult_adj} {insult_noun} and I would die for her",
    "@{handle} you {insult_adj} {insult_noun} {emoji_pos} {affection}",
    "go away {insult_noun}, {affection}",
)
RECLAIMED_WORDS = (
    "us {reclaimed} have to stick together",
    "proud member of the {reclaimed} club {emoji_pos}",
    "my friends are a bunch of {reclaimed} and I love them",
    "{activity} {reclaimed} unite!! {hashtag}",
)
GAMING_TRASH_TALK = (
    "gg ez, uninstall you {insult_adj} noob",
    "get rekt {insult_noun}, you're trash at this game",
    "@{handle} imagine losing {game} that badly, {insult_adj} {insult_noun}",
    "you played {game} like a {insult_adj} bot, quit",
    "lmao {name} carried by the team again, {insult_noun}",
)
SARCASTIC_INSULT = (
    "wow great job {name}, truly a genius move, you {insult_noun}",
    "oh sure, because you're SO smart {emoji_neg}",
    "congrats @{handle} on being the dumbest person in the chat",
    "nice take, did your {pet} write it for you?",
    "oh look, {name} has opinions again. how brave. how {insult_adj}",
    "bless your heart @{handle}, thinking is hard for you huh",
)
SARCASTIC_BENIGN = (
    "oh great, another {weather} {day}, just what I needed {emoji_neg}",
    "love waiting 40 minutes for the bus, best day ever",
    "wow my {device} died right before the meeting, perfect timing",
    "nothing like stepping on lego at 6am {emoji_neg}",
    "sure, I definitely wanted to work this {day}, thanks {emoji_neg}",
)
THIRD_PARTY_INSULT = (
    "{public} is a total {insult_noun}",
    "{public} is the most {insult_adj} person alive",
    "can't believe {public} still has a job, what a {insult_noun}",
    "{name} from accounting is a {insult_adj} {insult_noun} and I said what I said",
)

# Order matters only for reproducibility (kind index is drawn by the generator).
CLEAR_KINDS = (
    Kind("clear_benign", NEITHER, False, 0.985, CLEAR_BENIGN),
    Kind("clear_abusive", VIOLATING, False, 0.95, CLEAR_ABUSIVE),
)
AMBIGUOUS_NEITHER_KINDS = (
    Kind("profanity_positive", NEITHER, True, 0.8, PROFANITY_POSITIVE),
    Kind("quoted_insult", NEITHER, True, 0.66, QUOTED_INSULT),
    Kind("negated_insult", NEITHER, True, 0.7, NEGATED_INSULT),
    Kind("self_deprecating", NEITHER, True, 0.75, SELF_DEPRECATING),
    Kind("things_insult", NEITHER, True, 0.78, THINGS_INSULT),
    Kind("affectionate_banter", NEITHER, True, 0.62, AFFECTIONATE_BANTER),
    Kind("reclaimed", NEITHER, True, 0.72, RECLAIMED_WORDS),
    Kind("sarcastic_benign", NEITHER, True, 0.85, SARCASTIC_BENIGN),
)
AMBIGUOUS_VIOLATING_KINDS = (
    Kind("gaming_trash_talk", VIOLATING, True, 0.64, GAMING_TRASH_TALK),
    Kind("sarcastic_insult", VIOLATING, True, 0.66, SARCASTIC_INSULT),
    Kind("third_party_insult", VIOLATING, True, 0.7, THIRD_PARTY_INSULT),
)
KINDS = CLEAR_KINDS + AMBIGUOUS_NEITHER_KINDS + AMBIGUOUS_VIOLATING_KINDS

SLOTS: dict[str, tuple[str, ...]] = {
    "name": NAMES, "name2": NAMES, "food": FOODS, "food2": FOODS, "place": PLACES, "adj_pos": ADJ_POS,
    "thing": THINGS, "weather": WEATHER, "day": DAYS, "pet": PETS, "pet_act": PET_ACTS,
    "sports": SPORTS, "team": TEAMS, "device": DEVICES, "item": ITEMS, "city": CITIES,
    "activity": ACTIVITIES, "hashtag": HASHTAGS, "game": GAMES, "insult_adj": INSULT_ADJ,
    "insult_noun": INSULT_NOUN, "reclaimed": RECLAIMED, "profane": PROFANE_INTENS,
    "affection": AFFECTION, "public": PUBLIC, "emoji_pos": EMOJI_POS, "emoji_neg": EMOJI_NEG,
    "emoji_neutral": EMOJI_NEUTRAL,
}

NEAR_DUP_TAILS = (" lol", " !!", " 😂", " #repost", " (via @{handle})", "!!!", " 💯")
