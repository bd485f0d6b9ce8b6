"""SFU forwarding core: encoded-frame passthrough on top of aiortc.

Entry point for the session layer: ``rtc.room.SfuRoom``. Module map:
``passthrough`` (the only aiortc-internals adapter), ``assembly`` (frames from
RTP), ``forwarding`` (fan-out, keyframe policy), ``subscriber`` (the track a
subscriber's sender pulls), ``publisher`` (a published track), ``peer``
(one participant's connection and negotiation), ``media``/``client``/
``loopback`` (synthetic participants for tests, bots and benchmarks).

Sessions on top (docs/video.md): ``plan`` (who may join a booking's session,
and when), ``session`` (one live session: members, room events, limits),
``hosting`` (the sessions this process owns), ``ownership`` (which process
owns which session), ``relay`` (signalling between processes),
``signalling`` (the ``rtc:*`` Socket.IO events), ``ice`` (STUN/TURN
settings) and ``service`` (the component that wires them into the app).
"""
