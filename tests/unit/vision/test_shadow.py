import pytest
from pydantic import ValidationError

from core.vision.cameras import CameraConfig
from core.vision.shadow import DeviceShadow, ShadowStore

CAMERA = CameraConfig(id="c1", location="loc", location_type="business", interval_s=20, burst=4)


class FakeRedis(dict):
    def set(self, key, value):
        self[key] = value


def test_initial_shadow_follows_the_camera_config():
    shadow = DeviceShadow.initial(CAMERA)
    assert shadow.desired.interval_s == 20 and shadow.desired.burst == 4
    assert shadow.desired.schedule == "06:00-23:00" and shadow.reported is None
    assert shadow.delta()["interval_s"] == 20


def test_desired_patch_bumps_version_and_shows_in_delta_until_reported():
    shadow = DeviceShadow.initial(CAMERA).with_reported(DeviceShadow.initial(CAMERA).desired)
    assert shadow.delta() == {}
    changed = shadow.with_desired({"interval_s": 5, "status": "maintenance"})
    assert changed.version == 2
    assert changed.delta() == {"interval_s": 5, "status": "maintenance"}
    assert changed.with_desired({"interval_s": 5}) is changed  # no change, no new version
    assert changed.with_reported(changed.desired).delta() == {}


def test_invalid_desired_values_are_refused():
    shadow = DeviceShadow.initial(CAMERA)
    with pytest.raises(ValidationError):
        shadow.with_desired({"interval_s": -1})
    with pytest.raises(ValidationError):
        shadow.with_desired({"status": "exploded"})
    with pytest.raises(ValidationError):
        shadow.with_desired({"fps": 30})


def test_store_round_trip():
    store = ShadowStore(FakeRedis())
    created = store.load_or_create(CAMERA)
    store.save(created.with_desired({"burst": 9}))
    assert store.load_or_create(CAMERA).desired.burst == 9
    assert store.load("other") is None
