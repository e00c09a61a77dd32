"""View-time quality filters over face details (pure; the catalog translates them to SQL)."""

from __future__ import annotations

from dataclasses import dataclass

from .records import FaceDetail


@dataclass(frozen=True)
class QualityFilter:
    """View-time filters. Each bound is inclusive; None means no bound.

    brightness/sharpness/confidence: minimum 0-100; min_size_px: face side in pixels;
    max_yaw/max_pitch: largest absolute angle in degrees; min_age: lowest age (Rekognition only;
    faces with no age pass).
    """

    min_brightness: float | None = None
    min_sharpness: float | None = None
    min_confidence: float | None = None
    min_size_px: int | None = None
    max_yaw: float | None = None
    max_pitch: float | None = None
    min_age: int | None = None

    def lower_bounds(self) -> dict[str, float | None]:
        """Figure name (a catalog face column) -> its minimum, for the figures bounded from below."""
        return {"brightness": self.min_brightness, "sharpness": self.min_sharpness,
                "confidence": self.min_confidence, "size_px": self.min_size_px, "age_high": self.min_age}

    def angle_bounds(self) -> dict[str, float | None]:
        """Angle name (a catalog face column) -> its largest absolute value in degrees."""
        return {"yaw": self.max_yaw, "pitch": self.max_pitch}

    def passes(self, d: FaceDetail) -> bool:
        return not self.reasons(d)

    def reasons(self, d: FaceDetail) -> list[str]:
        """Why a face fails this filter (empty when it passes). Unknown figures pass."""
        out = []

        def low(value: float | None, bound: float | None, label: str) -> None:
            if bound is not None and value is not None and value < bound:
                out.append(f"{label} {value:.0f} < {bound:.0f}")

        def high(value: float | None, bound: float | None, label: str) -> None:
            if bound is not None and value is not None and abs(value) > bound:
                out.append(f"{label} {abs(value):.0f} > {bound:.0f}")

        low(d.brightness, self.min_brightness, "brightness")
        low(d.sharpness, self.min_sharpness, "sharpness")
        low(d.confidence, self.min_confidence, "confidence")
        low(d.size_px, self.min_size_px, "size")
        high(d.pose.yaw, self.max_yaw, "yaw")
        high(d.pose.pitch, self.max_pitch, "pitch")
        low(d.age_high, self.min_age, "age")
        return out


NO_FILTER = QualityFilter()
