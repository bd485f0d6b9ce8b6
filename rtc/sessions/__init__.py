"""Booking-bound video sessions on top of the SFU: who may meet, where each session lives, how clients signal.

``plan`` (who may join a booking's session, and when), ``session`` (one live
session around an ``rtc.sfu.room.SfuRoom``: members, room events, limits),
``hosting`` (the sessions this process owns), ``ownership`` (which process
owns which session), ``relay`` (signalling between processes), ``signalling``
(the ``rtc:*`` Socket.IO events), ``ice`` (STUN/TURN settings).
"""
