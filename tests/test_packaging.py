"""The installed distribution: one import root, and no collision with other distributions' top-level names.

The wheel is built from this checkout without network (no build isolation) and installed into a fresh
virtual environment beside two stand-in distributions that take the names PyPI's ``supervisor``
(supervisord) and ``config`` take: a top-level ``supervisor`` module and a ``config`` package. The daemon's
dependencies come from the test environment's own site-packages (a path entry, so its editable finder for
this checkout is not active there).
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(300)


def _build_wheel(out: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out),
         str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (wheel,) = out.glob("kalshi_guard-*.whl")
    return wheel


def _standin_dist(where: Path, name: str, files: dict[str, str]) -> Path:
    """A minimal source tree whose wheel installs ``files`` at the top level, as PyPI's ``name`` does."""
    src = where / f"standin-{name}"
    src.mkdir()
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    modules = sorted({rel.split("/")[0].removesuffix(".py") for rel in files if rel.endswith(".py")})
    packages = [m for m in modules if (src / m).is_dir()]
    py_modules = [m for m in modules if m not in packages]
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=77"]\nbuild-backend = "setuptools.build_meta"\n'
        f'[project]\nname = "{name}"\nversion = "99.0"\n'
        f"[tool.setuptools]\npackages = {packages!r}\npy-modules = {py_modules!r}\n".replace("'", '"')
    )
    return src


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


class TestWheel:
    def test_it_exposes_exactly_one_top_level_package(self, wheel: Path):
        """Every file of the wheel is under ``kalshi_guard/`` or the dist-info: nothing else is importable."""
        with zipfile.ZipFile(wheel) as zf:
            tops = {name.split("/")[0] for name in zf.namelist()}
        dist_info = {t for t in tops if t.endswith(".dist-info")}
        assert tops - dist_info == {"kalshi_guard"}
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
        assert "kalshi_guard/supervisor.py" in names
        assert "kalshi_guard/config/default.toml" in names  # package data travels with it

    def test_it_runs_beside_distributions_named_supervisor_and_config(self, wheel: Path, tmp_path: Path):
        """A fresh venv with top-level ``supervisor`` and ``config`` from other distributions: check-config
        exits 0 (before the import root, ``import control.daemon`` found supervisord's ``supervisor``)."""
        env_dir = tmp_path / "venv"
        venv.EnvBuilder(with_pip=False).create(env_dir)
        py = env_dir / "bin" / "python"
        site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                   check=True, capture_output=True, text=True).stdout.strip())
        standins = [
            _standin_dist(tmp_path, "supervisor", {"supervisor/__init__.py": '"""supervisord stand-in"""\n',
                                                    "supervisor/options.py": "EXIT = 1\n"}),
            _standin_dist(tmp_path, "config", {"config/__init__.py": '"""config stand-in"""\nVALUE = 1\n'}),
        ]
        for src in standins:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--target", str(site), str(src)], check=True, capture_output=True, text=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                        str(wheel)], check=True, capture_output=True, text=True)
        # the daemon's dependencies, from this environment, as a plain path entry (not processed as a site dir)
        (site / "zz_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        script = env_dir / "bin" / "kalshi-guard"
        script.write_text(f"#!{py}\nimport sys\nfrom kalshi_guard.control.cli import main\nsys.exit(main())\n")
        script.chmod(0o755)
        probe = subprocess.run(
            [str(py), "-c", "import supervisor, config, kalshi_guard; print(supervisor.__file__, config.__file__, "
                            "kalshi_guard.__file__)"],
            cwd=tmp_path, check=True, capture_output=True, text=True,
        ).stdout
        assert "standin" not in probe
        assert probe.count(str(site)) == 3  # all three come from the fresh venv, not from this checkout
        res = subprocess.run([str(script), "check-config"], cwd=tmp_path, capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, timeout=120)
        assert res.returncode == 0, res.stderr
