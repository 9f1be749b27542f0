"""Fast JSON rendering with orjson (UUIDs and datetimes natively)."""

import json

import orjson
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework.renderers import BaseRenderer


class FastJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str)
        except orjson.JSONEncodeError:
            # An integer beyond 64 bits (jsonb returns 1e20 as one) is beyond orjson: the slow path writes it.
            return json.dumps(data, cls=DjangoJSONEncoder).encode()
