import subprocess
import sys


def test_doctor_exits_zero_and_names_the_device():
    out = subprocess.run([sys.executable, "-m", "genlab", "doctor"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "device" in out.stdout and "cpu" in out.stdout
    assert "digits yes" in out.stdout
