"""The optional C accelerator of the record walk; the package's metadata lives in setup.cfg.

``kafkalite.protocol._recordwalk`` is built with the machine's C compiler when there is one;
``optional=True`` lets an install without a compiler go on, and kafkalite then validates records
in pure Python (``kafkalite.protocol.record_validation.NATIVE`` says which walk is in use).
"""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("kafkalite.protocol._recordwalk", ["kafkalite/protocol/_recordwalk.c"],
              extra_compile_args=["-O2", "-Wall"], optional=True),
])
