"""The plugin API is what `connectors.__all__` lists: connector packages and the agent rely on
exactly these names, so a change to the list is a change to the API (and this test says so)."""
import connectors

PLUGIN_API = [
    "ENTRY_POINT_GROUP",
    "Chunk",
    "ConnectorError",
    "OptionProblem",
    "RowError",
    "Schema",
    "Sink",
    "Source",
    "SourceRow",
    "connector_class",
    "connector_module",
    "content_version",
    "env_secret",
    "event_sequence",
    "exactly_one_of",
    "load_sink",
    "load_source",
    "names",
    "option_problems",
    "options_schema",
    "resolve_path",
    "text_or_list",
]


def test_the_plugin_api_is_pinned():
    assert sorted(connectors.__all__) == sorted(PLUGIN_API)


def test_every_exported_name_exists_and_is_documented():
    aliases = {"Schema"}  # dict[str, Any]: the type of an options schema
    for name in set(connectors.__all__) - aliases:
        member = getattr(connectors, name)
        if callable(member):
            assert member.__module__.split(".")[0] == "connectors", name
            assert member.__doc__, f"{name} has no docstring"


def test_nothing_public_is_left_out():
    public = {n for n, v in vars(connectors).items()
              if not n.startswith("_") and not isinstance(v, type(connectors)) and n not in ("annotations",)}
    typing_helpers = {"Any", "Mapping", "Path", "ModuleType", "entry_points"}
    assert public - typing_helpers == set(connectors.__all__)
