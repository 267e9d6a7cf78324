"""Word lists for Chinese person names: surnames, titles, cue words, kinship nouns.

General linguistic resources (the 百家姓 surnames in common use today, honorifics and
the words that introduce a name in Chinese prose), not lists fitted to any data set.
"""

from __future__ import annotations

# Single-character surnames in common use (covers well over 95% of the population).
# 阿 and 哈 are left out: far more often a nickname prefix (阿明) or laughter (哈哈).
SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫阎段雷侯龙史陶黎贺顾"
    "毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰"
    "焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲"
    "房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟"
    "应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝官封谈匡鞠惠荆乐冀"
    "郁胥南班储原栗燕楚鄢劳谌奚皮粟冼蔺楼盘满闻位厉伊仝区郜海阚花权强帅屠豆朴盖练廉禹井祖漆巴"
    "丰支卿国狄平计索宣晋相初门云容敬来扈晁芮都普阙浦戈伏鹿薄邸雍辜羊乌母裘亓修邰赫杭况那宿"
    "鲜印逯隆茹诸战慕危玉银亢嵇公湛宾戎勾茅利於呼居揭干但尉冶斯元束檀衣信展阴昝智幸奉植衡富"
    "尧闭由"
)
# Compound surnames (复姓), matched before single ones.
COMPOUND_SURNAMES = frozenset(
    [
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "轩辕", "令狐",
        "钟离", "独孤", "南宫", "西门", "端木", "百里", "呼延", "东郭", "澹台", "公羊", "濮阳", "淳于", "单于", "太史", "申屠",
        "赫连", "拓跋", "司空", "闻人", "万俟", "仲孙", "第五", "梁丘", "左丘", "东门", "羊舌", "微生", "公冶", "乐正", "巫马",
        "亓官", "子车", "谷梁", "段干", "漆雕",
    ]
)
# Titles and forms of address written directly after a surname or a full name.
TITLES = (
    "先生", "女士", "小姐", "同志", "老师", "师傅", "阿姨", "大爷", "大妈", "大娘", "大叔",
    "大哥", "大姐", "奶奶", "爷爷", "老板", "经理", "主任", "书记", "局长", "院长", "校长",
    "医生", "大夫", "护士", "警官", "律师", "教授", "博士", "同学", "总", "董", "某",
)
# Words that introduce a name right after them (role labels in records and prose).
CUES_BEFORE = (
    "我叫", "名叫", "叫做", "姓名", "名字", "本人", "申请人", "当事人", "诉求人", "来电人",
    "投诉人", "举报人", "反映人", "联系人", "负责人", "经办人", "代理人", "委托人", "法定代表人",
    "法人代表", "户主", "业主", "市民", "村民", "居民", "网民", "群众", "患者", "家属", "学生",
    "职工", "员工", "司机", "驾驶人", "嫌疑人", "被告", "原告", "被申请人", "第三人", "证人",
    "收件人", "寄件人", "领取人", "签收人", "受益人", "监护人", "配偶", "丈夫", "妻子", "父亲",
    "母亲", "儿子", "女儿", "哥哥", "姐姐", "弟弟", "妹妹", "邻居", "同事", "朋友", "老公",
    "老婆", "爸爸", "妈妈", "租户", "房东", "户名", "账户名", "持卡人", "实名认证信息",
    "爷爷", "奶奶", "外公", "外婆", "姥姥", "姥爷", "叔叔", "舅舅", "姑姑", "伯伯", "阿姨",
    "儿媳", "女婿", "孙子", "孙女", "侄子", "外甥", "公公", "婆婆", "岳父", "岳母",
)
# Labels that introduce a name slot in records (申请人：×××): the next 2-4 characters are
# a name when they are not a verb phrase.
SLOT_CUES = (
    "我叫", "名叫", "姓名", "申请人", "当事人", "诉求人", "来电人", "投诉人", "举报人",
    "反映人", "联系人", "负责人", "经办人", "代理人", "委托人", "法定代表人", "法人代表", "户主",
    "实名认证信息", "持卡人", "户名", "收件人", "被申请人", "嫌疑人",
)
# Characters that end a name slot (function words and the first characters of the
# predicates that typically follow a name).
SLOT_STOPS = frozenset("的了在是与及等于从到对将被把也就还又都说称去反投举表告系")
# Words that follow a name as its predicate in reports and conversation.
CUES_AFTER = (
    "来电", "来信", "反映", "投诉", "举报", "称", "说", "表示", "认为", "指出", "告诉", "同志",
    "等人", "一家", "本人", "家属", "夫妇", "之子", "之女", "之妻", "之夫", "的电话", "的手机",
    "的身份证",
)
# Capital numerals of amounts (陆佰柒拾元): 陆 and 伍 are also surnames.
CAPITAL_NUMERALS = frozenset("零壹贰叁肆伍陆柒捌玖拾佰仟萬万亿元整角分")
# Generic person nouns that the taggers sometimes label as names (nominal mentions).
NOMINALS = frozenset(
    [
        "先生", "女士", "小姐", "老师", "同学", "同志", "师傅", "阿姨", "叔叔", "大爷", "大妈", "奶奶", "爷爷", "老板", "老公",
        "老婆", "朋友", "亲", "亲们", "宝宝", "宝贝", "美女", "帅哥", "哥哥", "姐姐", "弟弟", "妹妹", "爸爸", "妈妈", "老爸",
        "老妈", "儿子", "女儿", "市民", "村民", "居民", "网友", "粉丝", "本人", "自己", "大家", "某某", "有关人员", "工作人员",
        "负责人", "当事人", "小伙", "小伙子", "姑娘", "小朋友", "孩子", "主任", "书记", "局长", "医生", "护士", "警察", "民警",
        "领导", "客服", "坐席",
    ]
)
