"""A tiny capability that lives in the tests: one folder (this one) and one line (in CAPABILITIES).

``tests/test_example_capability.py`` adds ``"tests.example_capability"`` to the capability list
and shows that the web app serves its route, the policy knows its action (with a jurisdiction
rule), the permission matrix finds its route and row, and docs/permissions.md's generator lists it.
"""
