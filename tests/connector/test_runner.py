"""Adding up per-job counts into the funnel."""

from connector.runner import summarise


def test_counts_from_every_job_are_added_up():
    summary = summarise([{"enriched": 2, "crm_errors": []}, {"enriched": 3, "crm_errors": []}])
    assert summary["enriched"] == 5


def test_tiers_are_merged_and_all_four_are_always_present():
    summary = summarise([{"tiers": {"TIER_1": 2}}, {"tiers": {"TIER_1": 1, "TIER_3": 4}}])
    assert summary["tiers"] == {"TIER_1": 3, "TIER_2": 0, "TIER_3": 4, "TIER_4": 0}


def test_quarantined_rows_are_listed_in_file_and_line_order():
    rows = [{"file": "b.jsonl", "line": 2, "reason": "x"}, {"file": "a.jsonl", "line": 9, "reason": "y"},
            {"file": "a.jsonl", "line": 3, "reason": "z"}]
    summary = summarise([{"quarantined": rows}])
    assert [(r["file"], r["line"]) for r in summary["quarantined"]] == [("a.jsonl", 3), ("a.jsonl", 9), ("b.jsonl", 2)]
    assert summary["rows_quarantined"] == 3


def test_an_empty_run_has_every_count_at_zero():
    summary = summarise([])
    assert summary["qualified"] == 0 and summary["quarantined"] == [] and summary["rows_quarantined"] == 0



def test_a_count_no_one_listed_is_still_added_up():
    assert summarise([{"steps_done": 2}, {"steps_done": 3}])["steps_done"] == 5
