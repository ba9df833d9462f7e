"""How a run describes the hardware its figures were measured on."""

import torch

from zoo.training import devices


def test_the_cpu_is_named_beside_the_threads(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU 9000 @ 3.0GHz\n")
    assert devices.cpu_name(cpuinfo) == "Example CPU 9000 @ 3.0GHz"
    monkeypatch.setattr(devices, "cpu_name", lambda: "Example CPU 9000 @ 3.0GHz")
    monkeypatch.setattr(devices, "available_cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert devices.describe_device("cpu") == "CPU (Example CPU 9000 @ 3.0GHz), 1 thread (2 cores)"


def test_a_cpu_without_a_name_is_described_by_its_threads(tmp_path, monkeypatch):
    monkeypatch.setattr(devices.platform, "processor", lambda: "")
    assert devices.cpu_name(tmp_path / "absent") is None
    monkeypatch.setattr(devices, "cpu_name", lambda: None)
    monkeypatch.setattr(devices, "available_cores", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert devices.describe_device("cpu") == "CPU, 2 threads (2 cores)"
