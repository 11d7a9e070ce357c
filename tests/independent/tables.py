"""Data tables of the independent folder: schools, villages, name pools, the 2019 autumn calendar facts and the
2019 Shaanxi per-semester amounts the builder needs, written by hand from docs/design.md, domain.md and the rule
files (not read from src/workbench, so that a wrong rule file shows up as a failure)."""

from __future__ import annotations

import datetime as dt

AS_OF = dt.date(2019, 11, 30)

# key: (name, town, stage, entry years in 2019秋, students per entry year)
SCHOOLS = {
    "S1": ("旬阳县蜀河镇中心小学", "蜀河镇", "小学", [2014, 2015, 2016, 2017, 2018, 2019], 6),
    "S2": ("旬阳县蜀河镇初级中学", "蜀河镇", "初中", [2017, 2018, 2019], 9),
    "S3": ("旬阳县吕河镇中心小学", "吕河镇", "小学", [2014, 2015, 2016, 2017, 2018, 2019], 5),
    "S4": ("旬阳县中学", "城关镇", "高中", [2017, 2018, 2019], 5),
}
SCHOOL_CODES = {"S1": "2161090121", "S2": "2161090122", "S3": "2161090131", "S4": "2161090001"}

VILLAGES = {"蜀河镇": ["黄金村", "两河村", "双庙村"], "吕河镇": ["庙坪村", "桐木沟村（社区）", "吕河村"]}
HAMLETS = ["一组", "二组", "三组", "四组", "五组"]

SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
GIVEN = list("子涵梓轩浩然宇航欣怡思雨佳琪俊杰明辉晓燕雅婷志强海洋春花秋菊冬梅建国立新玉兰桂芳德胜永福瑞雪嘉怡")
# homophone swaps (same pinyin, different character) for planted name mismatches
HOMOPHONES = {"伟": "玮", "静": "婧", "军": "君", "丽": "莉", "华": "桦", "敏": "珉"}

# 2019秋 school weeks (ISO) complete on 2019-11-30: Mondays 09-02 .. 11-18, without the 国庆 week 2019-W40
TERM_START = dt.date(2019, 9, 2)
HOLIDAY_WEEKS = {"2019-W40"}
VISIT_MONTHS = ["2019-09", "2019-10", "2019-11"]

# per-semester amounts (rules/aid_policy_shaanxi_2019.csv, domain.md 3.2)
LIVING = {("小学", "住校"): 500.0, ("小学", "走读"): 250.0, ("初中", "住校"): 625.0, ("初中", "走读"): 312.5}
HS_GRANT = {"特别困难": 1250.0, "困难": 1000.0, "一般困难": 750.0}
HS_FEE = 800.0

CN_GRADE = "一二三四五六七八九"
