"""The fixed vocabulary of modalities a practitioner can list, so clients can filter on them reliably."""

from __future__ import annotations

import enum


class Modality(enum.StrEnum):
    YOGA = "yoga"
    MEDITATION = "meditation"
    REIKI = "reiki"
    ACUPUNCTURE = "acupuncture"
    MASSAGE = "massage"
    NUTRITION = "nutrition"
    COUNSELLING = "counselling"
    NATUROPATHY = "naturopathy"
    BREATHWORK = "breathwork"
    AYURVEDA = "ayurveda"
    HOMEOPATHY = "homeopathy"
    HERBALISM = "herbalism"
    OSTEOPATHY = "osteopathy"
    CHIROPRACTIC = "chiropractic"
    REFLEXOLOGY = "reflexology"
    SOUND_HEALING = "sound_healing"
    PILATES = "pilates"
    TAI_CHI = "tai_chi"
    QIGONG = "qigong"
    LIFE_COACHING = "life_coaching"
