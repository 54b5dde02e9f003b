"""The interaction ETag tests on a real wire-protocol server (the conditional update uses $elemMatch + `$`)."""
from tests.api.test_interaction_etags import (  # noqa: F401  (pytest collects them here with the wire app)
    note,
    test_a_change_moves_the_etag_and_a_stale_if_match_is_412_with_nothing_changed,
    test_a_change_that_lands_between_the_check_and_the_write_is_412,
    test_reading_an_interaction_gives_its_etag_and_304_when_unchanged,
)
