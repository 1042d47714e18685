"""Whether an item listed after a short answer is another candidate or says more about it.

"Paris, France" is one answer (France is where Paris is: a larger kind of place); "Paris, Lyon"
and "France, Germany" offer two of the same kind (a hedge, graded 1/k by `reference.py`).
An item is no candidate when it is a larger kind of place than the reference (a continent, a
country, a state, province or region; a city places a landmark: the kinds listed here and in
`place_regions.py`), or describes ("the capital", "in France", "by Shakespeare", a year beside
a name). A hedge's words ("I think", "probably") offer nothing, but what they hedge does:
"Paris, maybe Lyon" offers Lyon (grade27). A name no list knows is another candidate: "Paris,
Lyon" and "Shakespeare, Marlowe" hedge (grade26 read any name right after the answer as its
apposition, and graded them 1.0).
Words are `reference.normalise`d (casefolded, no punctuation, no articles).
"""

from __future__ import annotations

from typing import Final

from arbiter.place_regions import CITIES, REGIONS, plain

_CONTINENTS = "africa antarctica asia australia europe north america south america oceania"
_COUNTRIES = (
    "afghanistan albania algeria andorra angola argentina armenia australia austria azerbaijan "
    "bahamas bahrain bangladesh barbados belarus belgium belize benin bhutan bolivia bosnia "
    "botswana brazil brunei bulgaria burkina faso burundi cambodia cameroon canada chad chile "
    "china colombia comoros congo costa rica croatia cuba cyprus czechia czech republic denmark "
    "djibouti dominica dominican republic ecuador egypt el salvador eritrea estonia eswatini "
    "ethiopia fiji finland france gabon gambia georgia germany ghana greece grenada guatemala "
    "guinea guyana haiti honduras hungary iceland india indonesia iran iraq ireland israel "
    "italy jamaica japan jordan kazakhstan kenya kiribati korea south korea north korea kosovo "
    "kuwait kyrgyzstan laos latvia lebanon lesotho liberia libya liechtenstein lithuania "
    "luxembourg madagascar malawi malaysia maldives mali malta mauritania mauritius mexico "
    "micronesia moldova monaco mongolia montenegro morocco mozambique myanmar namibia nauru "
    "nepal netherlands holland new zealand nicaragua niger nigeria norway oman pakistan palau "
    "panama paraguay peru philippines poland portugal qatar romania russia rwanda samoa "
    "san marino saudi arabia senegal serbia seychelles singapore slovakia slovenia somalia "
    "south africa spain sri lanka sudan suriname sweden switzerland syria taiwan tajikistan "
    "tanzania thailand togo tonga tunisia turkey turkiye turkmenistan tuvalu uganda ukraine "
    "uae united arab emirates uk united kingdom great britain britain england scotland wales "
    "northern ireland usa us united states united states of america america uruguay "
    "uzbekistan vanuatu vatican venezuela vietnam yemen zambia zimbabwe"
)
_STATES = (  # US states (and postal codes), Canadian provinces, Australian states
    "alabama alaska arizona arkansas california colorado connecticut delaware florida georgia "
    "hawaii idaho illinois indiana iowa kansas kentucky louisiana maine maryland massachusetts "
    "michigan minnesota mississippi missouri montana nebraska nevada new hampshire new jersey "
    "new mexico new york north carolina north dakota ohio oklahoma oregon pennsylvania "
    "rhode island south carolina south dakota tennessee texas utah vermont virginia washington "
    "west virginia wisconsin wyoming "
    "al ak az ar ca co ct de fl ga hi id il in ia ks ky la me md ma mi mn ms mo mt ne nv nh nj "
    "nm ny nc nd oh ok or pa ri sc sd tn tx ut vt va wa wv wi wy dc d c "
    "ontario quebec british columbia alberta manitoba saskatchewan nova scotia new brunswick "
    "newfoundland prince edward island "
    "new south wales nsw victoria queensland tasmania western australia south australia"
)
_MULTI = (  # the names of more than one word in the lists above (read whole, not word by word)
    "north america|south america|burkina faso|costa rica|czech republic|dominican republic|"
    "el salvador|south korea|north korea|new zealand|san marino|saudi arabia|south africa|"
    "sri lanka|united arab emirates|united kingdom|great britain|northern ireland|"
    "united states|united states of america|new hampshire|new jersey|new mexico|new york|"
    "north carolina|north dakota|rhode island|south carolina|south dakota|west virginia|d c|"
    "british columbia|nova scotia|new brunswick|prince edward island|new south wales|"
    "western australia|south australia"
)


def _names(words: str) -> frozenset[str]:
    multi = [m for m in _MULTI.split("|") if f" {m} " in f" {words} "]
    rest = f" {words} "
    for m in multi:
        rest = rest.replace(f" {m} ", " ")
    return frozenset({*multi, *rest.split()})


# kinds of place by size: one places a name of a smaller kind (0: none listed, a person say)
_KINDS: Final = (
    (4, _names(_CONTINENTS)),
    (3, _names(_COUNTRIES)),
    (2, _names(_STATES) | REGIONS),
    (1, CITIES),
)
_CITY: Final = 1
# an item holding these describes the reference; it offers no other answer
_DESCRIBING_WORDS = (
    "in on at by of from near which who where that this its his her their it is was "
    "capital city located"
)
_DESCRIBING: Final = frozenset(_DESCRIBING_WORDS.split(" "))
_NEGATING: Final = frozenset({"not", "no", "never", "nor", "neither"})
# a hedge's words: they offer nothing, what is left after them is judged ("maybe Lyon": Lyon)
_HEDGING_WORDS = (
    "i we m am probably definitely certainly surely obviously maybe perhaps possibly likely "
    "course believe think guess suppose sure"
)
_HEDGING: Final = frozenset(_HEDGING_WORDS.split(" "))


def sizes(name: str) -> list[int]:
    """The kinds of place a normalised name is, by size (Georgia: a state and a country; 0:
    none of those listed, a person say)."""
    name = plain(name)
    return [size for size, names in _KINDS if name in names] or [0]


def is_candidate(item: str, reference: str) -> bool:
    """Whether a normalised item listed beside the normalised reference offers another answer
    (rather than placing, describing or hedging the reference)."""
    words = [w for w in item.split() if w not in _HEDGING]
    if not words or words[0] in _NEGATING or any(w in _DESCRIBING for w in words):
        return False  # "certainly not Lyon": a negated item offers nothing
    item = " ".join(words)
    if len(item) == 1:
        return False  # a choice's letter or an initial ("The answer is (B) Paris")
    named = reference.split()
    if len(named) > 1 and item.replace(" ", "") == "".join(w[0] for w in named):
        return False  # "New York, NY": the reference's own initials (grade26)
    if all(w.isdigit() for w in words) is not all(w.isdigit() for w in reference.split()):
        return False  # "Eiffel Tower, 1889", "Einstein (1879-1955)": dates beside a name
    larger = max(sizes(item))
    if larger == _CITY and max(sizes(reference)) == 0 and len(reference.split()) < 2:
        return True  # a city places a landmark ("Eiffel Tower, Paris"), not a one-word name
    return larger <= min(sizes(reference))  # a larger place places the reference


def apposition_chain(names: list[str]) -> list[str] | None:
    """Normalised items of a list joined by commas alone, read as one name and what follows it
    ("Paris, Ile-de-France", "Springfield, Illinois, USA"): None when they are no such chain.
    Returned: the names the answer states (the head, and the known places that place it).

    Every item after the head must be one that cannot be another candidate (a larger known
    place, a description, a hedge's words alone): a known place of the head's kind or smaller
    ("France, Germany", "Paris, Lyon") or a name no list knows ("Shakespeare, Marlowe") makes
    the list a hedge (grade27: grade26 read any name right after the head as a region no list
    holds, so the hedge "Paris, Lyon" graded as Paris)."""
    if len(names) < 2:
        return None
    head, rest = names[0], names[1:]
    for item in rest:
        if not is_candidate(item, head):
            continue  # a larger known place, a description, a hedge, a year
        return None
    stated = [head]
    stated += [n for n in rest if max(sizes(n)) > 0 and not is_candidate(n, head)]
    return stated
