"""The SFU: encoded-frame forwarding on top of aiortc, knowing nothing of bookings, people or sockets.

Entry point: ``rtc.sfu.room.SfuRoom`` (one per session). The only module that
touches aiortc internals is ``klear_client.passthrough`` (pinned to aiortc
1.16.0), with ``klear_client.assembly`` rebuilding frames from RTP: the SDK
needs both and installs without the server, so they live there and the SFU
imports them. Here, ``forwarding`` fans frames out with the
keyframe policy, ``subscriber`` is the track a subscriber's sender pulls,
``publisher`` one published track, ``peer`` one participant's connection and
its negotiation.
"""
