import numpy as np
import pytest

from maven import ConfigError
from maven.data.photometry import flux_to_mag
from maven.simulate import SimConfig, simulate


def test_spectroscopic_selection_keeps_only_bright_objects():
    config = SimConfig.preset("tiny", max_peak_mag=18.5)
    sne = simulate(15, seed=3, config=config)
    assert len(sne) == 15
    for sn in sne:
        lc = sn.lightcurve
        assert flux_to_mag(lc.flux[lc.detected].max()) <= 18.5
    free = simulate(15, seed=3, config=SimConfig.preset("tiny"))
    peak = [flux_to_mag(sn.lightcurve.flux[sn.lightcurve.detected].max()) for sn in free]
    assert np.median(peak) > 18.5  # without the cut most triggered objects are fainter


@pytest.mark.parametrize("bad", [2.0, 40.0])
def test_bad_selection_magnitude(bad):
    with pytest.raises(ConfigError, match="max_peak_mag"):
        SimConfig(max_peak_mag=bad)
