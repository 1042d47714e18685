"""A base64 `data:` URL split into its media type and payload, as RFC 2397 allows clients to
write it (parameters, any case), in one linear pass with no pattern; shared by the edge check
(image_data.py) and routing's image sizes (media.py)."""

from __future__ import annotations

# a data URL's header (media type and parameters) is short; its end is looked for this far only
_MAX_HEADER = 1024


def data_url_parts(url: str) -> tuple[str, str, bool] | str:
    """(media type, base64 payload, whether `url` was already in the canonical
    `data:<type>;base64,` form) of a base64 data URL, or why it is not one, as RFC 2397 reads
    it: `data:[<type>/<subtype>][;attribute=value]*;base64,<data>`, the scheme, the media type,
    attribute names and `base64` in any case (RFC 2045's tokens are case-insensitive), so
    `;BASE64` and a `;name=x.png` or `;charset=...` parameter are taken. One pass over the
    header (splits, no pattern): a segment without `=` that is not the last `base64` (a repeated
    or misplaced `base64`, a bare word) is ambiguous and refused, as is a URL that is not
    base64 (percent-encoded bytes: no upstream takes an image so)."""
    if url[:5].lower() != "data:":
        return "it does not start with 'data:'"
    comma = url.find(",", 5, 5 + _MAX_HEADER)
    if comma < 0:
        return f"no ',' ends its header within {_MAX_HEADER} characters"
    segments = url[5:comma].split(";")
    media_type = segments[0].strip().lower()
    if segments[-1].strip().lower() != "base64" or len(segments) < 2:
        return "it is not base64 (the header must end with ';base64')"
    for param in segments[1:-1]:
        name, eq, _value = param.partition("=")
        if not eq or not name.strip():
            return f"its header segment {param.strip()[:40]!r} is not a attribute=value parameter"
    if media_type.count("/") != 1 or not all(media_type.split("/")):
        return f"its media type {media_type[:40]!r} is not <type>/<subtype>"
    canonical = url.startswith(f"data:{media_type};base64,")
    return media_type, url[comma + 1 :], canonical
