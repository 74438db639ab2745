"""The HTML report rendered in a real browser (headless Chromium, from Debian's `chromium`):
every table and image shows, nothing is fetched from the network, the page is not blank."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.slow


def test_a_real_studys_page_renders_offline_in_chromium(run, tmp_path):
    from matplotlib.image import imread

    from transplant.results.report import main

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is needed (`.ci/run` installs it): apt-get install "
                    "chromium")
    for seed in (0, 1):
        for lr in ("1e-3", "3e-3"):
            run(["method=lora", f"method.optim.lr={lr}", f"seed={seed}",
                 "trainer.log_every_n_steps=1"], study="page")
    _, zero = run(["method=zero_shot"], study="page")
    assert main([str(zero.parent), "--select", "method.optim.lr", "--html"]) == 0
    page = zero.parent / "_report" / "report.html"
    shot = tmp_path / "shot.png"
    out = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,3000",
         f"--screenshot={shot}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = out.stdout
    assert out.returncode == 0 and "<table" in dom, out.stderr[-2000:]
    # Every table and image of the file is in the rendered page, every image decoded.
    source = page.read_text()
    assert dom.count("<table") == source.count("<table") >= 3
    assert dom.count("<img") == source.count("<img") >= 3
    assert "http://" not in dom and "https://" not in dom  # nothing to fetch
    pixels = imread(shot)
    assert pixels.std() > 0.02  # a page with content, not a blank screenshot
