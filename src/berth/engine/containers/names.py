"""Container names: Docker's ``adjective_surname`` for unnamed containers, and name validation."""

from __future__ import annotations

import random
import re

from berth.errors import InvalidArgument

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_LEFT_WORDS = """
admiring adoring agitated amazing angry awesome blissful bold boring brave busy charming clever
compassionate competent condescending confident cool cranky crazy dazzling determined distracted
dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent festive flamboyant
focused friendly frosty funny gallant gifted goofy gracious great happy hardcore heuristic hopeful
hungry infallible inspiring intelligent interesting jolly jovial keen kind laughing loving lucid
magical modest musing mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful
pedantic pensive practical priceless quirky quizzical recursing relaxed reverent romantic sad serene
sharp silly sleepy stoic strange stupefied suspicious sweet tender thirsty trusting unruffled upbeat
vibrant vigilant vigorous wizardly wonderful xenodochial youthful zealous zen
"""
_LEFT = _LEFT_WORDS.split()
_RIGHT_WORDS = """
agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach bardeen bartik
bassi beaver bell benz bhabha bhaskara blackburn blackwell bohr booth borg bose boyd brahmagupta
brattain brown buck burnell cannon carson cartwright cerf chandrasekhar chaplygin chatelet
chatterjee chebyshev clarke cohen colden cori cray curie darwin davinci dewdney dhawan diffie
dijkstra dirac driscoll dubinsky easley edison einstein elbakyan elgamal elion ellis engelbart
euclid euler faraday feistel fermat fermi feynman franklin gagarin galileo gates gauss germain
goldberg goldstine goldwasser golick goodall gould greider grothendieck haibt hamilton haslett
hawking heisenberg hellman hermann herschel hertz heyrovsky hodgkin hofstadter hoover hopper hugle
hypatia jackson jang jennings jepsen johnson joliot jones kalam kapitsa kare keldysh keller kepler
khayyam khorana kilby kirch knuth kowalevski lalande lamarr lamport leakey leavitt lederberg lehmann
lewin lichterman liskov lovelace lumiere mahavira margulis matsumoto maxwell mayer mccarthy
mcclintock mclaren mclean mcnulty meitner mendel mendeleev meninsky merkle mestorf mirzakhani
montalcini moore morse moser murdock napier nash neumann newton nightingale nobel noether northcutt
noyce panini pare pascal pasteur payne perlman pike poincare poitras proskuriakova ptolemy raman
ramanujan rhodes ride ritchie robinson roentgen rosalind rubin saha sammet sanderson satoshi shamir
shannon shaw shirley shockley shtern sinoussi snyder solomon spence stonebraker sutherland swanson
swartz swirles taussig tesla tharp thompson torvalds tu turing varahamihira vaughan villani
visvesvaraya volhard wescoff wilbur wiles williams williamson wilson wing wozniak wright wu yalow
yonath zhukovsky
"""
_RIGHT = _RIGHT_WORDS.split()


def generate(taken: set[str]) -> str:
    """A fresh ``adjective_surname`` not in ``taken`` (a digit is appended after many collisions)."""
    for attempt in range(100):
        name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
        if attempt > 10:
            name += str(random.randint(0, 9))
        if name not in taken:
            return name
    raise InvalidArgument("could not generate a unique container name")


def validate(name: str) -> str:
    """Return the name without its leading ``/``; InvalidArgument with Docker's message if malformed."""
    if not _VALID.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.removeprefix("/")
