"""causeway-hub benchmarks: the hub's operator sets, lists and removes family groups at the command
line; a council that is not one is named, and nothing is stored."""
from hub.cli import main


def test_family_groups_at_the_command_line(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert main(["init", "--db", db]) == 0
    assert main(["org", "import", "--db", db]) == 0
    capsys.readouterr()
    assert main(["benchmarks", "group-set", "rural", "--title", "Rural councils", "--basis", "rurality",
                 "--members", "orkney,shetland,eilean-siar", "--db", db]) == 0
    assert "family group rural set: 3 councils" in capsys.readouterr().out
    assert main(["benchmarks", "group-set", "odd", "--title", "Odd", "--members", "fife,sds", "--db", db]) == 2
    assert "/members/1: 'sds' is not a council of this hub" in capsys.readouterr().err
    assert main(["benchmarks", "groups", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "rural" in listed and "Rural councils (rurality): eilean-siar, orkney, shetland" in listed
    assert "odd" not in listed
    assert main(["benchmarks", "group-remove", "rural", "--db", db]) == 0
    assert main(["benchmarks", "group-remove", "rural", "--db", db]) != 0


def test_the_demo_has_benchmarks_to_show(tmp_path):
    """What `make run` sets up: the demo's school-meals returns benchmarked beside its family groups.
    Twenty-eight councils send them, so both groups (five and six of them) are shown beside Scotland."""
    from hub.app import build_services
    from hub.auth import Principal
    from hub.benchmarks.demo import set_example_benchmarks
    from hub.cli.org import import_orgs
    from hub.config import Settings
    from hub.returns.demo import publish_example_returns
    from hub.returns.reference import load_population_csv
    from support import ROOT

    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert main(["init", "--db", db]) == 0
    services = build_services(Settings(db_url=db))
    import_orgs(services.orgs, str(ROOT / "policies" / "orgs.yaml"))
    population = (ROOT / "policies" / "population.csv").read_text(encoding="utf-8")
    load_population_csv(services.engine, population, 2023)
    publish_example_returns(services)
    set_example_benchmarks(services)
    result = services.benchmarks.benchmark("data-return.school-meals", None, None, None,
                                           Principal(org="edinburgh", role="governance", credential_id="t"))
    latest = next(m for m in result["measures"] if m["name"] == "meals_per_registered_pupil")["periods"][-1]
    assert latest["own"] == 55.0 and latest["scotland"]["councils"] == 28
    assert {f["group"]: f["withheld"] for f in latest["family"]} == {"cities-and-larger-towns": False}
    services.engine.dispose()
