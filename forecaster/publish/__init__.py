"""Publishing: every series the forecaster writes, built from the one catalogue.

The engine, planning and recommendations return results; :mod:`.series` turns each kind of
result into series, :class:`.publisher.Publisher` keeps the newest good results of every
target and builds what is exposed, and two outputs read it: the ``/metrics`` collector
(:mod:`.collector`) and the remote-write pusher (:mod:`.pusher`). Nothing here calls back into
the scheduler, the reader or the engine.
"""
