"""causeway-hub commands for returns: init refuses a wrong periodic block; population and contacts load."""
import shutil
from pathlib import Path

import pytest
import yaml

from hub.cli import main

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def _broken_schemas(tmp_path, change) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, folder)
    meta_path = folder / "data-return.school-meals" / "dataset.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    change(meta["periodic"])
    meta_path.write_text(yaml.safe_dump(meta))
    return folder


@pytest.mark.parametrize("change, words", [
    (lambda p: p.update(frequency="fortnightly"), "periodic/frequency"),
    (lambda p: p.update(period_field="quarter"), "period_field 'quarter' is not a field"),
    (lambda p: p["checks"]["sum"].update(total="council"), "must be a number field"),
    (lambda p: p["checks"]["rate_per_1000"].update(min=200), "min 200 is above max 150"),
    (lambda p: p.pop("requesting_org"), "requesting_org"),
    (lambda p: p.update(expected_publishers="some-councils"), "expected_publishers"),
])
def test_init_refuses_a_wrong_periodic_block_with_a_clear_message(tmp_path, capsys, change, words):
    schemas = _broken_schemas(tmp_path, change)
    code = main(["init", "--db", f"sqlite:///{tmp_path / 'hub.db'}", "--schemas", str(schemas)])
    err = capsys.readouterr().err
    assert code == 2
    assert "dataset data-return.school-meals: periodic" in err and words in err


def test_population_csv_loads_good_rows_and_names_bad_ones(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    assert main(["init", "--db", db]) == 0
    assert main(["org", "import", "--db", db]) == 0
    csv_path = tmp_path / "population.csv"
    csv_path.write_text("org,population,year\nfife,374730,2023\natlantis,5,2023\nglasgow,many,2023\n"
                        "orkney,22020,23\nfife,374731,2023\n")
    capsys.readouterr()
    assert main(["returns", "population", "--db", db, str(csv_path)]) == 1
    out, err = capsys.readouterr()
    assert "1 population figures loaded" in out
    assert "line 3: unknown org 'atlantis'" in err
    assert "line 4: population 'many' for glasgow must be a whole number" in err
    assert "line 5: year '23' for orkney must be a year" in err
    assert "line 6: fife 2023 appears twice" in err

    assert main(["returns", "population", "--db", db, str(SCHEMAS.parent / "policies" / "population.csv")]) == 0
    assert "32 population figures loaded" in capsys.readouterr().out


def test_org_contact_prints_the_webhook_secret_once_and_refuses_private_addresses(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'hub.db'}"
    main(["init", "--db", db])
    main(["org", "import", "--db", db])
    capsys.readouterr()
    assert main(["org", "contact", "--db", db, "fife", "--email", "returns@fife.example.org"]) == 0
    assert "reminders for fife go to: returns@fife.example.org" in capsys.readouterr().out
    assert main(["org", "contact", "--db", db, "fife", "--webhook", "http://10.0.0.5/hook"]) == 2
    assert "10.0.0.5, a private address" in capsys.readouterr().err
