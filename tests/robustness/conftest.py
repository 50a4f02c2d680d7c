"""The adversarial catalogue of the hardening issue. Helpers live in modules beside the tests
(``cli_cases`` for bad scenarios and arguments, ``brokers`` and ``proxy`` for broker faults), so that
this file stays small."""
