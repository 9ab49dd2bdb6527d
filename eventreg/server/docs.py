"""The OpenAPI document in the 3.0 dialect, for the bundled Swagger UI.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12) at /openapi.json, which stays the
contract. The Swagger UI that the `swagger-ui-bundle` package ships (4.x) renders
only 3.0 documents, so /docs reads this translation: a null alternative becomes
`nullable`, `const` a one-value `enum`, and a list of `examples` its first one.

`SWAGGER_UI_PARAMETERS` configure the page itself.
"""

from __future__ import annotations

import copy
from typing import Any

# Swagger UI's bundle validates the document at https://validator.swagger.io (it sends
# the document's URL there and shows a badge) whenever the page is not on localhost: a
# request to a third party from every reader's browser. No validator, then.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


def as_openapi_30(document: dict[str, Any]) -> dict[str, Any]:
    translated = _node(copy.deepcopy(document))
    translated["openapi"] = "3.0.3"
    return translated


def _node(value: Any) -> Any:
    if isinstance(value, list):
        return [_node(v) for v in value]
    if not isinstance(value, dict):
        return value
    node = {key: _node(v) for key, v in value.items()}
    for key in ("anyOf", "oneOf"):
        options = node.get(key)
        if isinstance(options, list) and {"type": "null"} in options:
            rest = [o for o in options if o != {"type": "null"}]
            node["nullable"] = True
            if len(rest) == 1 and "$ref" in rest[0]:
                node.pop(key)
                node["allOf"] = rest
            elif len(rest) == 1:
                node.pop(key)
                node.update(rest[0])
            else:
                node[key] = rest
    kind = node.get("type")
    if isinstance(kind, list) and "null" in kind:
        others = [k for k in kind if k != "null"]
        node["nullable"] = True
        node["type"] = others[0] if len(others) == 1 else others
    if "const" in node:
        node["enum"] = [node.pop("const")]
    examples = node.get("examples")
    if isinstance(examples, list) and "type" in node:
        node.pop("examples")
        if examples:
            node["example"] = examples[0]
    return node
