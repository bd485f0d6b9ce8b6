"""The SFU: encoded-frame forwarding on top of aiortc, knowing nothing of bookings, people or sockets.

Entry point: ``rtc.sfu.room.SfuRoom`` (one per session). ``passthrough`` is
the only module that touches aiortc internals (pinned to aiortc 1.16.0);
``assembly`` rebuilds frames from RTP, ``forwarding`` fans them out with the
keyframe policy, ``subscriber`` is the track a subscriber's sender pulls,
``publisher`` one published track, ``peer`` one participant's connection and
its negotiation.
"""
