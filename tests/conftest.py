"""Session-wide settings of the test suite: one XLA compilation cache for all its processes.

A test suite of a training codebase compiles the same programs again and again: a resumed run
builds the train step of the run it resumes, the 2-device subprocess of one test and the
command-line run of another build the programs of the ones before. JAX's persistent
compilation cache (https://docs.jax.dev/en/latest/persistent_compilation_cache.html), shared
by the xdist workers and every subprocess the tests start (through the environment), reads a
program compiled once instead of compiling it again. A cached executable is the program XLA
compiled for the same computation, options and flags (all part of the key), so its results are
bit for bit those of a fresh compilation; a run checks nothing less.

``jax_compilation_cache_max_size`` turns on the cache's file lock (the ``filelock`` package), so
that two processes never read an entry another is still writing. A ``JAX_COMPILATION_CACHE_DIR``
set by the caller wins; set it empty to compile everything afresh.
"""

import os
import tempfile

_SETTINGS = {
    'JAX_COMPILATION_CACHE_DIR': os.path.join(tempfile.gettempdir(),
                                              f'kdjax-tests-xla-cache-{os.getuid()}'),
    'JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS': '0',  # every program, not only slow ones
    'JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES': '0',
    'JAX_COMPILATION_CACHE_MAX_SIZE': str(4 * 2**30),  # bytes; evicts least recently used
}
for _name, _value in _SETTINGS.items():
  os.environ.setdefault(_name, _value)
