"""Install vgg_report from its nbdev 2 `settings.ini` (nbdev 2's template setup.py lacks Python 3.11)."""
from configparser import ConfigParser
from setuptools import find_packages, setup

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']
reqs = lambda key: cfg.get(key, '').split()

setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    author=cfg['author'], license=cfg['license'], keywords=cfg['keywords'].split(),
    packages=find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    python_requires='>=' + cfg['min_python'],
    install_requires=reqs('requirements'),
    extras_require={'torch': reqs('torch_requirements'), 'dev': reqs('dev_requirements')},
    include_package_data=True, zip_safe=False,
    entry_points={'console_scripts': reqs('console_scripts'),
                  'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
