# Stand-in for pip's get-pip.py bootstrap script, which ansible-test
# downloads from a host this machine cannot reach: pip from Python's own
# ensurepip, then `pip install` with the arguments get-pip.py was given
# (less get-pip's own --no-setuptools / --no-wheel).
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
