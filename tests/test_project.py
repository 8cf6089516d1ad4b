import pytest

from mlops_jupyter.core.errors import ProjectError
from mlops_jupyter.core.project import ENV_VAR, find_root, init_project, load_config


def test_root_is_nearest_folder_with_mlops(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    (tmp_path / ".git").mkdir()
    (tmp_path / "a" / ".mlops").mkdir(parents=True)
    deep = tmp_path / "a" / "b" / "c"
    deep.mkdir(parents=True)
    assert find_root(deep) == (tmp_path / "a").resolve()


def test_root_falls_back_to_git_root_then_start(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "notebooks").mkdir()
    assert find_root(repo / "notebooks") == repo.resolve()
    alone = tmp_path / "alone"
    alone.mkdir()
    assert find_root(alone) == alone.resolve()


def test_env_var_overrides_discovery(tmp_path, monkeypatch):
    (tmp_path / "x" / ".mlops").mkdir(parents=True)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert find_root(tmp_path / "x") == (tmp_path / "elsewhere").resolve()


def test_init_creates_layout_and_is_idempotent(tmp_path):
    project, created = init_project(tmp_path)
    assert created
    assert project.config_path.read_text().startswith("# mlops-jupyter")
    assert "/runs.db" in (project.mlops_dir / ".gitignore").read_text()
    project.config_path.write_text('[core]\nexperiment = "mine"\n')
    again, created = init_project(tmp_path)
    assert not created
    assert again.config().core.experiment == "mine"  # an existing config is kept


def test_config_defaults_and_types(tmp_path):
    path = tmp_path / "config.toml"
    assert load_config(path).core.metric_flush_interval == 1.0
    path.write_text("[core]\nmetric_flush_interval = 2\nbusy_timeout = 5.5\n")
    config = load_config(path)
    assert config.core.metric_flush_interval == 2.0 and config.core.busy_timeout == 5.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("[core\n", "not valid TOML"),
        ("[core]\nexperimnet = 'x'\n", "unknown setting core.experimnet"),
        ("[core]\nbusy_timeout = 'long'\n", "core.busy_timeout must be a float"),
    ],
)
def test_bad_config_is_one_clear_error(tmp_path, text, message):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ProjectError, match=message):
        load_config(path)


def test_an_explicit_folder_wins_over_the_env_var(tmp_path, monkeypatch):
    from mlops_jupyter.core.project import find_project

    (tmp_path / "named" / ".mlops").mkdir(parents=True)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert find_project(tmp_path / "named").root == (tmp_path / "named").resolve()
    assert find_project().root == (tmp_path / "elsewhere").resolve()
