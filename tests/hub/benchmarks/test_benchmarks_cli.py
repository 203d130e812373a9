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
