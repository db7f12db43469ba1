import json

import sncosmo

from maven.cli import main
from maven.io.tables import from_table, write_table


def _folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sn = from_table(sncosmo.load_example_data(), object_id="ex1")
    sn.type_raw, sn.redshift = "SN IIP", 0.05
    write_table(sn, data / "ex1.ecsv")
    (data / "ZTF20aaaaaaa.csv").write_text("time,mag,magerr,band\n58685.5,19.0,0.1,R\n")
    (data / "README.md").write_text("docs are passed over")
    (data / "garbage.dat").write_text("\x00\x01 not data")
    return data


def test_info_and_convert(tmp_path, capsys):
    data = _folder(tmp_path)
    assert main(["info", str(data), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_supernovae"] == 2
    assert info["per_class"] == {"II": 1, "unknown": 1}
    assert info["skipped_files"] == 1 and info["skipped_file_list"][0]["path"].endswith(
        "garbage.dat"
    )
    assert info["bands"]["ztf::r"] == 1
    out = tmp_path / "ds"
    assert main(["convert", str(data), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "wrote 2 supernovae" in text
    assert main(["info", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["n_supernovae"] == 2 and again["bands"] == info["bands"]
    assert main(["info", str(out)]) == 0
    assert "per class" in capsys.readouterr().out


def test_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("maven info: error:") and "no such file" in err
    assert main(["convert", str(tmp_path), "--out", str(tmp_path / "o")]) == 2


def test_simulate_command(tmp_path, capsys):
    out = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                "--n",
                "12",
                "--out",
                str(out),
                "--preset",
                "tiny",
                "--json",
                "--shard-size",
                "6",
            ]
        )
        == 0
    )
    manifest = json.loads(capsys.readouterr().out)
    assert manifest["n_supernovae"] == 12 and manifest["n_shards"] == 2
    assert manifest["provenance"]["template_dir"] is None  # the tiny preset uses no templates
    assert main(["simulate", "--n", "12", "--out", str(out), "--preset", "tiny"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert main(["simulate", "--n", "5", "--out", str(out), "--preset", "nope"]) == 2
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_supernovae"] == 12


def test_embed_index_search_novelty_commands(tmp_path, capsys):
    import torch

    from maven.io import write_dataset
    from maven.models import MavenConfig, MavenModel, MavenProcessor

    from .toy import toy_supernovae

    torch.manual_seed(0)
    model_dir = tmp_path / "model"
    MavenModel(MavenConfig.from_preset("tiny")).save_pretrained(model_dir)
    MavenProcessor().save_pretrained(model_dir)
    data = write_dataset(toy_supernovae(20, seed=4), tmp_path / "data")
    emb = tmp_path / "emb.parquet"
    assert (
        main(
            [
                "embed",
                "--model",
                str(model_dir),
                "--data",
                str(data),
                "--output",
                str(emb),
                "--json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["count"] == 20
    idx = tmp_path / "idx"
    assert main(["index", "build", str(emb), "--output", str(idx), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"photometry": 20, "spectrum": 20}
    assert main(["index", "info", str(idx)]) == 0
    assert "photometry: 20 (flat)" in capsys.readouterr().out
    assert main(["index", "search", str(idx), "--id", "toy3", "-k", "4", "--json"]) == 0
    (res,) = json.loads(capsys.readouterr().out)
    assert len(res["hits"]) == 4 and all(h["id"] != "toy3" for h in res["hits"])
    assert main(["index", "search", str(idx), "--id", "toy3", "--modality", "spectrum"]) == 0
    assert "nearest spectrum" in capsys.readouterr().out
    table = tmp_path / "novelty.csv"
    assert main(["novelty", str(idx), "--output", str(table), "--top", "3"]) == 0
    assert table.exists() and "percentile" in capsys.readouterr().out
    assert main(["index", "search", str(idx)]) == 2  # neither --id nor --data
    (idx / "photometry.faiss").write_bytes(b"broken")
    assert main(["index", "info", str(idx)]) == 2


def test_simulate_report_command(tmp_path, capsys):
    sim = tmp_path / "sim"
    assert main(["simulate", "--n", "150", "--out", str(sim), "--preset", "tiny"]) == 0
    out = tmp_path / "report"
    assert (
        main(
            [
                "simulate-report",
                "--sim",
                str(sim),
                "--real",
                str(sim),
                "--out",
                str(out),
                "--no-plots",
                "--json",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert (out / "realism.json").exists() and (out / "realism.md").exists()
    assert (
        main(
            [
                "simulate-report",
                "--sim",
                str(sim),
                "--real",
                str(tmp_path / "none"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
