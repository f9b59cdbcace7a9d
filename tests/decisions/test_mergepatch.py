from hypothesis import HealthCheck, given, settings, strategies as st

from mlops_operator.decisions.mergepatch import merge_apply, merge_diff
from mlops_operator.embedded.patches import merge_patch

json_leaf = st.one_of(st.integers(), st.text(max_size=3), st.booleans())
docs = st.recursive(json_leaf, lambda c: st.dictionaries(st.text("abc", max_size=2), c, max_size=3), max_leaves=10)
objects = st.dictionaries(st.text("abc", max_size=2), docs, max_size=4)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects, objects)
def test_applying_the_diff_yields_the_new_document_for_its_keys(old, new):
    patched = merge_patch(old, merge_diff(old, new))  # the API server's RFC 7386
    assert {k: patched.get(k) for k in new} == new
    assert {k: v for k, v in patched.items() if k not in new} == {k: v for k, v in old.items() if k not in new}


def test_removed_nested_keys_become_null():
    assert merge_diff({"weights": {"a": 80, "b": 20}}, {"weights": {"b": 100}}) == {"weights": {"a": None, "b": 100}}


def test_merge_apply_is_rfc7386_and_undoes_merge_diff():
    doc = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}
    assert merge_apply(doc, {"a": None, "b": {"c": 5, "d": None}, "e": [3], "f": {"g": None, "h": 1}}) == {
        "b": {"c": 5}, "e": [3], "f": {"h": 1}}
    assert doc == {"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]}  # unchanged
    new = {"a": 2, "b": {"c": 2}, "x": "y"}
    assert merge_apply(doc, merge_diff(doc, new)) == {**new, "e": [1, 2]}
    assert merge_apply(doc, {"a": 1}) == doc  # a no-op patch: the loop skips the write
