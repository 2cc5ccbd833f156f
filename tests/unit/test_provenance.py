"""What run.json records about the machine: the CPU's model name, read from cpuinfo."""

from unmirage.provenance import cpu_model, machine


def test_cpu_model_reads_the_model_name_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.00GHz\n"
                    "processor\t: 1\nmodel name\t: Example CPU @ 2.00GHz\n")
    assert cpu_model(info) == "Example CPU @ 2.00GHz"


def test_cpu_model_without_cpuinfo_falls_back_to_platform(tmp_path):
    name = cpu_model(tmp_path / "missing")
    assert isinstance(name, str) and name  # platform's name, never an exception


def test_machine_records_cores_threads_and_gpus():
    import os

    import torch

    m = machine()
    assert m["cores"] == os.cpu_count() and m["torch_threads"] == torch.get_num_threads()
    assert m["gpus"] == ([torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
                         if torch.cuda.is_available() else [])
    assert m["cpu"] and m["platform"]
