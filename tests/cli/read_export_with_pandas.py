"""Reads `armor db export` CSV and JSON with pandas, as they are (no options), and checks every
column's type and the awkward values (db_export_pandas_test.cpp writes them).

    python3 read_export_with_pandas.py runs.csv runs.json
"""
import math
import sys

import pandas as pd


def check(frame, name):
    def expect(condition, what):
        if not condition:
            sys.exit(f"{name}: {what}\n{frame.to_string()}\n{frame.dtypes.to_string()}")

    expect(len(frame) == 3, f"{len(frame)} rows, expected 3")
    expect(frame["run_id"].tolist() == [1, 2, 3], "run_id (as the results view names it)")
    expect(str(frame["model.k"].dtype) == "int64", f"model.k is {frame['model.k'].dtype}")
    expect(frame["model.k"].tolist() == [1, 2, 4], "model.k values")
    expect(str(frame["gate.noise"].dtype) == "bool", f"gate.noise is {frame['gate.noise'].dtype}")
    expect(frame["gate.noise"].tolist() == [True, False, True], "gate.noise values")
    # pandas' default float parsers (read_csv's "high", ujson) may miss the last bit: 1e-15, not ==.
    expect(all(abs(eps - 8 / 255) < 1e-15 for eps in frame["attack.eps"]), "attack.eps is not 8/255")
    expect(frame["gate.router"].tolist() == ["gap_fc", "conv_gap", "2conv_gap"], "gate.router")
    expect(str(frame["clean_acc"].dtype) == "float64", f"clean_acc is {frame['clean_acc'].dtype}")
    expect(frame.loc[0, "clean_acc"] == 0.75, "clean_acc of run 1")
    expect(math.isnan(frame.loc[1, "clean_acc"]), "a failed run's clean_acc is not NaN")
    expect(math.isnan(frame.loc[2, "pgd20_acc"]), "a NaN metric is not NaN")
    expect(frame.loc[1, "status"] == "failed", "status")
    expect(frame.loc[1, "error"] == 'bad value, "quoted";\nsecond line, ü', f"error is {frame.loc[1, 'error']!r}")
    expect(frame.loc[2, "overrides"] == "trainer.milestones=[10,20] model.k=4", "overrides")
    expect(frame["config_hash"].tolist() == ["46df3e5ad0336310", "46df3e5ad0336311", "46df3e5ad0336312"],
           "config_hash")


csv = pd.read_csv(sys.argv[1])
check(csv, "csv")
json = pd.read_json(sys.argv[2])
check(json, "json")
if list(csv.columns) != list(json.columns):
    sys.exit(f"csv and json columns differ: {list(csv.columns)} vs {list(json.columns)}")
print("pandas reads the export:", len(csv.columns), "columns")
