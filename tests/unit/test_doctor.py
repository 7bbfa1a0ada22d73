import subprocess
import sys


def test_doctor_exits_zero_and_names_the_device():
    out = subprocess.run([sys.executable, "-m", "genlab", "doctor"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "device" in out.stdout and "cpu" in out.stdout
    assert "digits yes" in out.stdout


def test_doctor_imports_only_what_it_checks():
    # Importing torchvision, scikit-learn or JupyterLab costs seconds each; the doctor reads
    # their versions from the package metadata instead (torch it imports: the device row).
    code = ("import sys\nfrom genlab.doctor import diagnose\nr = diagnose()\n"
            "print('LOADED', [m for m in ('torchvision', 'sklearn', 'skimage', 'matplotlib', 'jupyterlab',"
            " 'jupytext') if m in sys.modules])\nprint('ROWS', len(r.lines))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "LOADED []" in out.stdout, out.stdout + out.stderr
