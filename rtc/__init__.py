"""Video: an SFU that forwards encoded media without decoding it, and the booking-bound sessions on top.

Two layers, each its own package (docs/video.md):

* ``rtc.sfu``: the media plane. ``room.SfuRoom`` forwards every published
  track to every other participant. The one module that adapts aiortc
  internals, ``klear_client.passthrough`` (it names the aiortc version it
  fits), is shared with the SDK, which must install without the server.
* ``rtc.sessions``: who may meet when (``plan``), one live session
  (``session``), the sessions this process hosts (``hosting``), which process
  hosts which (``ownership``, ``relay``), and the ``rtc:*`` Socket.IO events
  (``signalling``), with the ICE servers (``ice``).

``rtc.service.Video`` is the component the server wires in, with its settings
(``rtc.settings``); it reaches channels only through
``channels.interface.SocketHub``. Synthetic participants and pre-encoded media
(for tests, bots and benchmarks) are not here: they are the Python SDK's
(``klear_client.participant``, ``klear_client.media``).
"""
