"""Regions below a country, and major cities, by name: what `apposition.py` reads after an answer.

grade26 read any name right after a short answer as its apposition ("Paris, Ile-de-France"),
so "Paris, Lyon" (a hedge between two cities) graded as Paris, 1.0 (grade27). An unknown name
there is now another candidate; these lists say which names are places of a larger kind than
a city (a region places a city: "Munich, Bavaria") and which are cities (a city places a
landmark, "Eiffel Tower, Paris", and is a peer of another city, "Paris, Lyon").

Written from the first-level regions of large countries and widely known historic regions (in
English, with the local spelling where English writes it too), not from graded cases. A name
that is also a major city (Valencia, Salzburg, Hamburg, Sao Paulo) is listed as a city only.
Entries are written as `normalise` reads answers, hyphens and apostrophes as spaces, without
accents (`plain` strips a name's before looking it up: "Île-de-France").
"""

from __future__ import annotations

import unicodedata
from typing import Final

_REGIONS = (
    # France (regions, historic provinces, a few departments)
    "ile-de-france|auvergne-rhone-alpes|auvergne|rhone-alpes|brittany|bretagne|normandy|"
    "normandie|provence|provence-alpes-cote d'azur|cote d'azur|french riviera|occitanie|"
    "occitania|languedoc|nouvelle-aquitaine|aquitaine|grand est|alsace|lorraine|champagne|"
    "hauts-de-france|burgundy|bourgogne|franche-comte|centre-val de loire|loire valley|"
    "pays de la loire|corsica|gascony|picardy|gironde|dordogne|savoy|savoie|"
    # Germany
    "bavaria|bayern|baden-wurttemberg|saxony|sachsen|hesse|hessen|lower saxony|"
    "north rhine-westphalia|rhineland-palatinate|rhineland|thuringia|brandenburg|"
    "schleswig-holstein|mecklenburg-vorpommern|mecklenburg-western pomerania|saxony-anhalt|"
    "saarland|swabia|franconia|black forest|westphalia|"
    # Italy
    "lombardy|lombardia|tuscany|toscana|lazio|latium|campania|sicily|sicilia|sardinia|"
    "piedmont|piemonte|veneto|liguria|emilia-romagna|apulia|puglia|calabria|umbria|marche|"
    "abruzzo|molise|basilicata|friuli|friuli-venezia giulia|trentino|south tyrol|"
    "aosta valley|valle d'aosta|"
    # Spain and Portugal
    "catalonia|catalunya|andalusia|andalucia|galicia|basque country|castile|castilla|"
    "castile and leon|castilla-la mancha|aragon|navarre|asturias|cantabria|extremadura|"
    "balearic islands|canary islands|la rioja|algarve|alentejo|madeira|azores|"
    # Britain and Ireland (counties and regions)
    "yorkshire|north yorkshire|west yorkshire|south yorkshire|kent|cornwall|devon|surrey|"
    "sussex|essex|lancashire|cumbria|norfolk|suffolk|dorset|somerset|hampshire|"
    "oxfordshire|cheshire|merseyside|midlands|west midlands|east anglia|highlands|"
    "scottish highlands|fife|lothian|county cork|county kerry|county clare|donegal|"
    "connemara|ulster|munster|leinster|connacht|"
    # Benelux, Switzerland, Austria, Central Europe, the Nordics, the Balkans
    "flanders|wallonia|north holland|south holland|friesland|limburg|ticino|valais|vaud|"
    "graubunden|tyrol|tirol|styria|carinthia|vorarlberg|upper austria|lower austria|"
    "bohemia|moravia|silesia|lesser poland|greater poland|masovia|pomerania|transylvania|"
    "dalmatia|istria|lapland|scania|jutland|attica|crete|peloponnese|"
    # Russia and around
    "siberia|tatarstan|chechnya|crimea|kamchatka|"
    # China
    "sichuan|guangdong|yunnan|hubei|hunan|henan|hebei|shandong|shanxi|shaanxi|jiangsu|"
    "zhejiang|fujian|jiangxi|anhui|guizhou|gansu|qinghai|hainan|liaoning|heilongjiang|"
    "inner mongolia|tibet|xinjiang|guangxi|ningxia|manchuria|"
    # India, Pakistan
    "maharashtra|kerala|tamil nadu|karnataka|gujarat|rajasthan|punjab|uttar pradesh|"
    "west bengal|bengal|bihar|goa|assam|odisha|orissa|telangana|andhra pradesh|"
    "madhya pradesh|haryana|kashmir|jammu and kashmir|uttarakhand|himachal pradesh|sindh|"
    # Japan, Korea, South-East Asia
    "kansai|kanto|hokkaido|kyushu|honshu|shikoku|okinawa|tohoku|chubu|chugoku|"
    "gyeonggi|jeju|bali|java|sumatra|borneo|sabah|sarawak|mindanao|luzon|"
    # the Americas (beyond the US states and Canadian provinces)
    "jalisco|oaxaca|yucatan|chiapas|sonora|baja california|guerrero|michoacan|nuevo leon|"
    "quintana roo|bahia|minas gerais|rio grande do sul|parana|amazonas|pernambuco|ceara|"
    "santa catarina|patagonia|tierra del fuego|yukon|nunavut|northwest territories|"
    "new england|midwest|appalachia|"
    # Australia and New Zealand, Africa, the Middle East
    "northern territory|australian capital territory|outback|otago|waikato|"
    "gauteng|kwazulu-natal|western cape|eastern cape|darfur|kurdistan|galilee|sinai|"
    "anatolia|cappadocia"
)
_CITIES = (
    "paris|lyon|marseille|nice|toulouse|bordeaux|lille|nantes|strasbourg|montpellier|rennes|"
    "london|manchester|birmingham|liverpool|leeds|glasgow|edinburgh|bristol|oxford|cambridge|"
    "dublin|belfast|cork|galway|berlin|munich|hamburg|frankfurt|cologne|stuttgart|dresden|"
    "leipzig|bremen|dusseldorf|nuremberg|vienna|salzburg|innsbruck|graz|zurich|geneva|bern|"
    "basel|lausanne|amsterdam|rotterdam|hague|utrecht|brussels|antwerp|bruges|ghent|"
    "luxembourg city|rome|milan|naples|turin|florence|venice|bologna|genoa|palermo|verona|"
    "pisa|madrid|barcelona|valencia|seville|malaga|bilbao|granada|zaragoza|murcia|lisbon|"
    "porto|copenhagen|stockholm|gothenburg|oslo|bergen|helsinki|reykjavik|warsaw|krakow|"
    "gdansk|wroclaw|prague|brno|budapest|bratislava|ljubljana|zagreb|belgrade|sarajevo|"
    "sofia|bucharest|athens|thessaloniki|istanbul|ankara|izmir|moscow|saint petersburg|"
    "st petersburg|kyiv|kiev|odessa|minsk|riga|vilnius|tallinn|tokyo|kyoto|osaka|yokohama|"
    "nagoya|sapporo|kobe|hiroshima|fukuoka|nara|seoul|busan|beijing|shanghai|guangzhou|"
    "shenzhen|chengdu|chongqing|wuhan|xian|hangzhou|nanjing|tianjin|hong kong|macau|taipei|"
    "mumbai|bombay|delhi|new delhi|bangalore|bengaluru|kolkata|calcutta|chennai|madras|"
    "hyderabad|pune|jaipur|agra|kochi|karachi|lahore|islamabad|dhaka|kathmandu|colombo|"
    "bangkok|hanoi|ho chi minh city|saigon|singapore|kuala lumpur|jakarta|manila|"
    "sydney|melbourne|brisbane|perth|adelaide|canberra|hobart|auckland|wellington|"
    "christchurch|cairo|alexandria|lagos|abuja|nairobi|addis ababa|casablanca|marrakesh|"
    "johannesburg|cape town|durban|tunis|algiers|dakar|accra|dubai|abu dhabi|doha|riyadh|"
    "jeddah|mecca|medina|tehran|baghdad|damascus|beirut|amman|jerusalem|tel aviv|"
    "new york city|los angeles|chicago|houston|phoenix|philadelphia|san antonio|san diego|"
    "dallas|san francisco|seattle|boston|miami|atlanta|denver|detroit|las vegas|portland|"
    "new orleans|baltimore|pittsburgh|minneapolis|st louis|saint louis|springfield|"
    "toronto|montreal|vancouver|ottawa|calgary|edmonton|quebec city|winnipeg|"
    "mexico city|guadalajara|monterrey|cancun|havana|bogota|medellin|lima|cusco|quito|"
    "santiago|buenos aires|montevideo|sao paulo|rio de janeiro|brasilia|salvador|caracas|"
    "la paz"
)


def plain(name: str) -> str:
    """A normalised name without its accents ("île de france" -> "ile de france")."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _names(names: str) -> frozenset[str]:
    return frozenset(
        " ".join(n.replace("-", " ").replace("'", " ").split()) for n in names.split("|")
    )


REGIONS: Final = _names(_REGIONS)
CITIES: Final = _names(_CITIES)
