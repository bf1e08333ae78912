"""Compare, Cost and the Decision report tell one story (issue 30, sections 1 and 7): one latency named plainly, one
verdict on Compare and in the report, one break-even figure on the Cost page, all in method titles."""

import re

from tests.dashboard.conftest import assert_clean, open_page, switch_to
from tests.decision_grid import stored_grid

# few-shot-like prompt: nothing to train, dear per query; a LoRA adapter: dear to train, cheap per query
CROSSING = {("prompt", "0"): (0.40, 0.0, 0.5, 4.0), ("lora", "8"): (0.60, 31.0, 0.0001, 3.0)}


def test_the_cost_headline_and_the_break_even_list_name_the_same_volume_in_method_titles(adaptlab_home):
    stored_grid(str(adaptlab_home / "results.db"), cells=CROSSING)
    app = open_page("cost")
    assert_clean(app)
    fact = app.info[0].value
    said = re.fullmatch(r"The cheapest depends on the volume: \*\*Prompt-only\*\* up to ([\d,]+) queries, then "
                        r"\*\*LoRA adapter\*\* beyond\.", fact)
    assert said, fact
    listed = re.search(r"Beyond \*\*([\d,]+)\*\* queries, \*\*LoRA adapter\*\* costs less in total than "
                       r"\*\*Prompt-only\*\*", " ".join(m.value for m in app.markdown))
    assert listed and listed.group(1) == said.group(1)  # one computation, one figure
