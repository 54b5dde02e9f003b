"""The chart renderer: matplotlib loaded on first use, no pyplot, one Figure per call, safe across threads."""
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from crm_service.services.charts import Bars, render
from crm_service.services.reports import Window

ROOT = Path(__file__).resolve().parents[2]
WINDOW = Window(datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))


def bars(*values):
    categories = [f"c{index}" for index in range(len(values))]
    return Bars("Things", "Kind", "Things (count)", categories, list(values), [str(value) for value in values])


def test_matplotlib_is_loaded_by_the_first_chart_and_pyplot_never():
    script = textwrap.dedent("""
        import sys
        import mongomock
        from crm_service import create_app
        from crm_service.config import TestConfig
        create_app(TestConfig(), mongo_client=mongomock.MongoClient(tz_aware=True))
        import crm_service.api.reports
        assert "matplotlib" not in sys.modules, "imported with the app"
        from datetime import UTC, datetime
        from crm_service.services.charts import Bars, render
        from crm_service.services.reports import Window
        window = Window(datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC))
        render(Bars("T", "x", "y", ["a"], [1], ["1"]), window, "png")
        assert "matplotlib" in sys.modules
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was used"
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-W", "error", "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=120, check=False)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"


def test_the_same_figures_give_the_same_svg():
    assert render(bars(3, 1, 4), WINDOW, "svg") == render(bars(3, 1, 4), WINDOW, "svg")


def test_charts_drawn_at_once_in_threads_match_those_drawn_one_by_one():
    jobs = [(bars(index, index + 1, 2 * index), image_format) for index in range(6) for image_format in ("svg", "png")]
    expected = [render(chart, WINDOW, image_format) for chart, image_format in jobs]

    with ThreadPoolExecutor(max_workers=4) as pool:
        drawn = list(pool.map(lambda job: render(job[0], WINDOW, job[1]), jobs))

    assert drawn == expected


def test_svg_text_stays_text_and_png_does_not_change_global_settings():
    import matplotlib

    before = dict(matplotlib.rcParams)
    root = ElementTree.fromstring(render(bars(7, 2), WINDOW, "svg"))
    render(bars(7, 2), WINDOW, "png")

    labels = ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"Things", "Kind", "Things (count)", "7", "2", "c0", "c1"} <= set(labels)
    assert dict(matplotlib.rcParams) == before
