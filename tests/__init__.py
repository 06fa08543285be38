"""ivr's own tests, a package so that `tests.conftest` is one module however it is imported."""
