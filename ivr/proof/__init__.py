"""The proof layer, pure: every state of a flow explored (explore), the persistent canceller's guarantee proven
(canceller), structural findings (lint), one report (report), the flow drawn (draw) and path tests written from
the proof (pathtests). It steps the same `ivr.flow.engine.decide` the phone line runs, never a copy of it.
"""
