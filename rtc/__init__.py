"""SFU forwarding core: encoded-frame passthrough on top of aiortc.

Entry point for the session layer: ``rtc.room.SfuRoom``. Module map:
``passthrough`` (the only aiortc-internals adapter), ``assembly`` (frames from
RTP), ``forwarding`` (fan-out, keyframe policy), ``subscriber`` (the track a
subscriber's sender pulls), ``publisher`` (a published track), ``peer``
(one participant's connection and negotiation), ``media``/``client``/
``loopback`` (synthetic participants for tests, bots and benchmarks).
"""
