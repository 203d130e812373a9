"""Request-body validation with orjson parsing: connexion parses every JSON body
before validating it, and a 1,000-record batch is the publish hot path."""
import orjson
from connexion.exceptions import BadRequestProblem
from connexion.validators import JSONRequestBodyValidator


class OrjsonBodyValidator(JSONRequestBodyValidator):
    async def _parse(self, stream, scope):
        body = b"".join([message async for message in stream])
        if not body:
            return None
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequestProblem(detail=f"request body is not valid JSON: {exc}") from None


VALIDATOR_MAP = {"body": {"application/json": OrjsonBodyValidator}}
