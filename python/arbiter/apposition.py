"""Whether an item listed after a short answer is another candidate or says more about it.

"Paris, France" is one answer (France is where Paris is: a larger kind of place); "Paris, Lyon"
and "France, Germany" offer two of the same kind (a hedge, graded 1/k by `reference.py`).
An item is no candidate when it is a larger kind of place than the reference (a continent, a
country, a state or province: the kinds listed here; a city is none of them), describes
("the capital", "in France", "by Shakespeare", a year beside a name) or hedges the speaker
("I think", "probably").
Words are `reference.normalise`d (casefolded, no punctuation, no articles).
"""

from __future__ import annotations

from typing import Final

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


# kinds of place by size: one places a name of a smaller kind (a city's is 0: none listed)
_KINDS: Final = ((3, _names(_CONTINENTS)), (2, _names(_COUNTRIES)), (1, _names(_STATES)))
# an item leading with (or holding) these describes or hedges; it offers no other answer
_DESCRIBING_WORDS = (
    "in on at by of from near which who where that this its his her their i we it is was "
    "capital city located probably definitely certainly surely obviously maybe perhaps "
    "likely course believe think guess sure"
)
_DESCRIBING: Final = frozenset(_DESCRIBING_WORDS.split(" "))


def sizes(name: str) -> list[int]:
    """The kinds of place a normalised name is, by size (Georgia: a state and a country; 0:
    none of those listed, a city say)."""
    return [size for size, names in _KINDS if name in names] or [0]


def is_candidate(item: str, reference: str) -> bool:
    """Whether a normalised item listed beside the normalised reference offers another answer
    (rather than placing, describing or hedging the reference)."""
    words = item.split()
    if not words or any(w in _DESCRIBING for w in words):
        return False
    named = reference.split()
    if len(named) > 1 and item.replace(" ", "") == "".join(w[0] for w in named):
        return False  # "New York, NY": the reference's own initials (grade26)
    if item.isdigit() is not reference.isdigit():
        return False  # "Eiffel Tower, 1889": a date beside a name, no other name
    return max(sizes(item)) <= min(sizes(reference))  # a larger place places the reference


def apposition_chain(names: list[str]) -> list[str] | None:
    """Normalised items of a list joined by commas alone, read as one name and what follows it
    ("Paris, Ile-de-France", "Springfield, Illinois, USA"): None when they are no such chain.
    Returned: the names the answer states (the head, and the known places that place it).

    General (grade26): the item right after the head may be any name, a region no list holds
    ("Ile-de-France"); each later item must be one that cannot be another candidate (a larger
    known place, a description, a hedge), and no item may be a known place of the head's kind
    or smaller ("France, Germany": a hedge). A qualifier is no answer of its own: "Lyon, Paris"
    states Lyon, so a second guess after the head earns nothing (nor games a 1/k)."""
    if len(names) < 2:
        return None
    head, rest = names[0], names[1:]
    for i, item in enumerate(rest):
        words = item.split()
        if words and words[0] in ("not", "no", "never"):
            continue  # "Paris, not Lyon": a negated item offers nothing
        if not is_candidate(item, head):
            continue  # a larger known place, a description, a hedge, a year
        if i == 0 and max(sizes(item)) == 0:
            continue  # the general apposition: a name no list knows, right after the head
        return None
    stated = [head]
    stated += [n for n in rest if max(sizes(n)) > 0 and not is_candidate(n, head)]
    return stated
