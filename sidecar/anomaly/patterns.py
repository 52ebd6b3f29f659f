"""The prompt-attack pattern tables (pure data: reason → keyword-gated, linear-time regexes).

Patterns are matched against ``normalise``d text, written lowercase, and pass through the same
mark-stripping, so "précédentes" in a pattern matches "precedentes" in the text.  Each entry is
``(keywords, regex)``: "a|b&c|d" means (a or b) and (c or d) must occur for the regex to run; the
keywords must be literal parts every match contains.  Regexes use only bounded repetition around
literal words, so Python's backtracking engine stays linear in the text length.
"""

from __future__ import annotations

from .matcher import PatternSet
from .reasons import Reason

_Q = r"(?:previous|prior|above|earlier|preceding|foregoing|original|initial|old|existing|system|safety)"
_DET = r"(?:the |your |my |these |those |all |any |of |all of |all the |all your |any of |any of the |every )?"
_NOUN = r"(?:instructions?|prompts?|directives?|guidelines|guidance|programming|commands|orders|rules|constraints|restrictions|polic(?:y|ies)|context|messages)"

_INJECTION: list[tuple[str, str]] = [
    (
        "ignore|disregard|forget|neglect|abandon",
        rf"\b(?:ignore|disregard|forget|neglect|abandon)\b,? {_DET}{_Q} (?:\w+ )?{_NOUN}\b",
    ),
    # "all"/"any" alone qualify only instruction-like nouns: "ignore all rules" is an eslint question.
    (
        "ignore|disregard|forget|neglect|abandon",
        r"\b(?:ignore|disregard|forget|neglect|abandon)\b,? (?:all|any|every)(?: of)?(?: the| your)? (?:\w+ )?(?:instructions?|prompts?|directives|guidelines|programming)\b",
    ),
    (
        "ignore|disregard|forget",
        r"\b(?:ignore|disregard|forget)\b,? (?:all |any )?(?:of )?your (?:\w+ )?(?:instructions|rules|guidelines|programming|training|directives)\b",
    ),
    (
        "ignore|disregard|forget",
        r"\b(?:ignore|disregard|forget)\b (?:everything|all|anything) (?:(?:that |which )?(?:was |is |i |you |we )?(?:have been |were |was )?(?:said|written|told|stated|mentioned|given|typed|wrote) )?(?:above|before (?:this|now)|previously|earlier|so far|up to now|until now)\b",
    ),
    (
        "override|bypass",
        r"\b(?:override|bypass) (?:your|the system|all previous|any previous|the previous) (?:\w+ )?(?:instructions|rules|prompt|guidelines|programming)\b",
    ),
    (
        "do not",
        r"\bdo not (?:follow|obey|listen to|comply with) (?:your (?:\w+ )?|the (?:previous|prior|original|system|above) )(?:instructions|rules|guidelines|programming|system prompt)\b",
    ),
    (
        "instructions|directives|system prompt&:",
        r"\b(?:new|updated|revised|real|actual) (?:system )?(?:instructions|directives|system prompt) ?:",
    ),
    (
        "from now on|henceforth|starting now",
        r"\b(?:from now on|henceforth|starting now),? (?:you (?:will|must|shall|are to) )?(?:ignore|disregard|forget|not follow|answer without|respond without)\b",
    ),
    (
        "fake|false|a test|void|cancel|obsolete|outdated|no longer valid",
        r"\bthe (?:above|previous|prior) (?:instructions|text|prompt|rules) (?:is|are|was|were) (?:fake|false|a test|void|cancel+ed|obsolete|outdated|no longer valid)\b",
    ),
    ("ignore", r"\bignore (?:the )?above and (?:instead )?(?:print|output|say|repeat|write)\b"),
    # es, fr, de, it, pt, ru, zh, ja, ko, ar, hi
    (
        "ignor|olvid|descarta|omite",
        r"\b(?:ignora|ignore|olvida|olvide|descarta|omite)\b (?:todas |todos )?(?:las |los |tus |sus )?(?:instrucciones|indicaciones|reglas|órdenes|directrices)(?: \w+){0,2} (?:anteriores|previas|de arriba|del sistema|iniciales)\b",
    ),
    ("ignora|olvid", r"\b(?:ignora|olvida|olvide)\b todo lo (?:anterior|que te (?:dijeron|han dicho))\b"),
    (
        "ignore|oublie",
        r"\b(?:ignore|ignorez|oublie|oubliez)\b (?:toutes |tous )?(?:les |tes |vos |des )?(?:instructions|consignes|règles|directives)(?: \w+){0,2} (?:précédentes|antérieures|ci-dessus|du système|initiales)\b",
    ),
    (
        "ignorier|vergiss|vergessen|missachte",
        r"\b(?:ignoriere|ignorier|ignorieren sie|vergiss|vergessen sie|missachte)\b (?:alle |jegliche |sämtliche )?(?:deine |ihre |die |meine )?(?:vorherigen |bisherigen |vorigen |obigen |vorangegangenen |ursprünglichen |alten )?(?:anweisungen|instruktionen|regeln|befehle|vorgaben|richtlinien)\b",
    ),
    (
        "ignora|dimentica",
        r"\b(?:ignora|dimentica|ignorate|dimenticate)\b (?:tutte )?(?:le )?(?:istruzioni|regole|indicazioni)(?: \w+){0,2} (?:precedenti|sopra|del sistema|iniziali)\b",
    ),
    (
        "ignor|esquec|desconsidere",
        r"\b(?:ignore|ignora|esqueça|desconsidere)\b (?:todas )?(?:as )?(?:instruções|regras|orientações)(?: \w+){0,2} (?:anteriores|acima|do sistema|iniciais)\b",
    ),
    (
        "игнорир|забуд|проигнорир|не обращаи",
        r"(?:игнорируй|игнорируйте|забудь|забудьте|проигнорируй|не обращай внимания на) (?:все |всё )?(?:предыдущие |прошлые |прежние |свои |твои |вышеуказанные )?(?:инструкции|указания|правила|команды)",
    ),
    (
        "忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|無視|忘記",
        r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守|無視|忘記)(?:你)?(?:之前|以上|上面|前面|先前|所有|全部|一切|以前)(?:的)?(?:所有|全部)?(?:的)?(?:指令|指示|说明|說明|规则|規則|提示|命令|要求)",
    ),
    (
        "無視|忘れ",
        r"(?:以前|前|上|これまで|先程|今まで)の(?:すべての|全ての|全)?(?:指示|命令|ルール|指令)を(?:すべて|全て)?(?:無視|忘れ)",
    ),
    ("무시|잊어", r"(?:이전|위의|앞의|모든) (?:모든 )?(?:지시|지침|명령|규칙)(?:사항)?(?:을|를|은|는)? (?:무시|잊어)"),
    (
        "تجاهل|انس",
        r"(?:تجاهل|انس|تجاهلي|تجاهلوا) (?:جميع |كل )?(?:التعليمات|الأوامر|القواعد|التوجيهات) (?:السابقة|الأولى|أعلاه)",
    ),
    ("निर्देश", r"(?:पिछले|पहले के|ऊपर के) (?:सभी )?निर्देश(?:ों)? (?:को )?(?:अनदेखा|नज़रअंदाज़|भूल)"),
]

_ROGUE = (
    r"(?:unrestricted|unfiltered|uncensored|unlimited|unbound|amoral|evil|rogue|jailbroken|unaligned|unethical|lawless)"
)
_JAILBREAK: list[tuple[str, str]] = [
    (
        "you&dan|stan|dude|unrestrict|unfilter|uncensor|unlimited|unbound|amoral|evil|rogue|jailbr|unaligned|unethical|lawless|free from",
        rf"\byou(?: are|'re|re) (?:now |going to be |about to become )?(?:dan|stan|dude|an? {_ROGUE} (?:ai|assistant|model|chatbot|language model|version|bot|llm)|jailbroken|free from (?:all |any )?(?:restrictions|rules|filters|guidelines))\b",
    ),
    ("do anything now", r"\bdo anything now\b"),
    (
        "unrestrict|unfilter|uncensor|unlimited|unbound|amoral|evil|rogue|jailbr|unaligned|unethical|lawless",
        rf"\b(?:act|behave|respond|roleplay|role-play|pretend to be|pose|answer) (?:as|like) (?:an? |my |the )?{_ROGUE}\b",
    ),
    (
        "mode",
        r"\b(?:you are|you're|you will|you must|now) (?:now )?(?:in |enter |operating in |running in |be in )?(?:developer|dev|god|jailbreak|dan|unrestricted|unfiltered) mode\b",
    ),
    ("developer mode", r"\bdeveloper mode (?:enabled|output|response|activated)\b"),
    (
        "mode",
        r"\b(?:enable|activate|enter|unlock) (?:the )?(?:jailbreak|dan|god|unrestricted|unfiltered|uncensored) mode\b",
    ),
    (
        "pretend",
        r"\bpretend (?:that )?(?:you|you're|you are) (?:have no|don't have|do not have|are not bound by|aren't bound by|are free (?:of|from)|without) (?:any )?(?:restrictions|rules|filters|guidelines|limits|limitations|ethics|morals|content policy|policies|boundaries)\b",
    ),
    (
        "ethical|moral|safety|content&without|with no|free of|free from|not bound|ignoring|unconstrained",
        r"\b(?:answer|respond|reply|talk|speak|act|operate|output|generate|write)\b(?: \w+){0,4} (?:without|with no|free (?:of|from)|not bound by|ignoring|unconstrained by) (?:any )?(?:\w+ )?(?:ethical|moral|safety|content) ?(?:guidelines|constraints|restrictions|limits|filters|considerations|boundaries|rules|policies|censorship)\b",
    ),
    ("jailbr", r"\bjailbr(?:eak|oken) (?:mode|prompt|persona|version|ai|assistant|chatgpt|gpt|llm|model)\b"),
    (
        "freed|broken free|liberated|released",
        r"\b(?:freed|broken free|liberated|released) (?:from|of) (?:the )?(?:typical |usual )?(?:confines|constraints|restrictions|limitations|shackles)\b",
    ),
    (
        "bound by|restricted by|limited by|constrained by",
        r"\b(?:not|no longer|never) (?:be )?(?:bound|restricted|limited|constrained) by (?:any |the |your )?(?:openai|anthropic|google|ethical|content|safety)?'?s? ?(?:polic(?:y|ies)|guidelines|filters|programming|content policy|ethics)\b",
    ),
    (
        "safety|content|ethical|moderation|censorship",
        r"\b(?:disable|bypass|override|turn off|deactivate|ignore|remove) (?:your |the |all |any )?(?:safety|content|ethical|moderation|censorship) (?:filters?|guardrails|safeguards|restrictions|guidelines|protocols|policies|settings)\b",
    ),
    (
        "stop|cease&being|acting as",
        r"\b(?:stop|cease) (?:being|acting as) (?:an? )?(?:ai|assistant|chatbot|language model)\b",
    ),
    ("ты теперь|теперь ты", r"(?:ты теперь|теперь ты) (?:dan|без ограничений|неограниченный|нефильтрованный)"),
    ("режим разработчика|без каких-либо ограничении", r"(?:режим разработчика|без каких-либо ограничений)"),
    (
        "ia sin|asistente sin",
        r"\b(?:eres|ahora eres) (?:un |una )?(?:ia|asistente) sin (?:restricciones|filtros|censura)\b",
    ),
    (
        "tu es|vous etes",
        r"\b(?:tu es|vous êtes) (?:maintenant )?(?:une |un )?(?:ia|assistant) sans (?:restrictions|filtres|censure)\b",
    ),
    ("du bist", r"\bdu bist (?:jetzt |nun )?(?:eine |ein )?(?:ki|assistent) ohne (?:einschränkungen|filter|zensur)\b"),
    (
        "你现在是|你現在是|现在你是",
        r"(?:你现在是|你現在是|现在你是)(?:一个)?(?:没有|沒有)(?:任何)?(?:限制|过滤|審查|审查)",
    ),
]

_SYS = r"(?:system ?prompt|system message|system instructions|initial instructions|original instructions|hidden instructions|internal instructions|secret instructions|developer (?:message|prompt|instructions)|pre-?prompt|initial prompt|original prompt|meta-?prompt|instructions (?:you were given|you received|you have been given|given to you))"
_ADJ = r"(?:full |entire |complete |exact |whole |original |initial |hidden |secret |internal |real |actual |verbatim |first |previous |current )"
_EXTRACTION: list[tuple[str, str]] = [
    (
        "system|instructions|prompt|preprompt|metaprompt|developer&print|show|reveal|display|output|repeat|recite|tell me|give me|share|write|leak|dump|expose|disclose|provide|paste|spell out|echo|return|translate|summar|read back|copy",
        rf"\b(?:print|show|reveal|display|output|repeat|recite|tell me|give me|share|write out|write down|leak|dump|expose|disclose|provide|paste|spell out|echo|return|translate|summarize|summarise|read back|copy)\b (?:me |us )?(?:back )?(?:all |the |your |all of your |everything in your |of your )?{_ADJ}{{0,3}}{_SYS}",
    ),
    (
        "what&system|instructions|prompt|preprompt|metaprompt|developer",
        rf"\bwhat (?:is|are|was|were|does) your {_ADJ}{{0,2}}{_SYS}",
    ),
    (
        "were you|have you",
        r"\b(?:what|which) (?:instructions|rules|guidelines) (?:were|have) you (?:been )?(?:given|told|programmed with)\b",
    ),
    (
        "you told",
        r"\bwhat (?:were|was) you told (?:before|at the (?:start|beginning)|initially|in your (?:system )?prompt)\b",
    ),
    (
        "repeat",
        r"\brepeat (?:all )?(?:of )?(?:the )?(?:words|text|everything|lines|content|messages?) (?:above|before this)\b",
    ),
    ("you are", r"\b(?:beginning|starting|start) with (?:the )?(?:words |phrase )?[\"']?you are (?:a |an |chatgpt)"),
    (
        "sistema|iniciales",
        r"\b(?:muestra|muestrame|revela|dime|imprime|ensename|repite)\b (?:me )?(?:tu|el|su|tus) (?:prompt|mensaje|instrucciones) (?:del |de )?(?:sistema|iniciales)\b",
    ),
    (
        "systeme|initiale",
        r"\b(?:montre|montrez|révèle|révélez|affiche|affichez|donne|donnez|répète|répétez)(?:-moi| moi)? (?:ton|votre|le|tes|vos) (?:prompt|message|instructions|consignes) (?:système|du système|initiales?)\b",
    ),
    (
        "system|anweisungen|anfangsanweisungen",
        r"\b(?:zeige?|zeig|gib|nenne|verrate|wiederhole)\b (?:mir )?(?:deinen|deine|den|die|ihren) (?:system-?prompt|systemnachricht|systemanweisungen|anfangsanweisungen|ursprünglichen anweisungen)\b",
    ),
    (
        "системн|исходные",
        r"(?:покажи|выведи|раскрой|напиши|повтори|скажи)(?: мне)? (?:свой |твой |свои |твои )?(?:системный промпт|системное сообщение|системные инструкции|исходные инструкции)",
    ),
    (
        "系统|系統|初始指令",
        r"(?:显示|顯示|输出|輸出|告诉我|告訴我|打印|透露|泄露|重复|重複)(?:一下)?(?:你的|你)?(?:系统提示|系統提示|系统指令|系統指令|初始指令|系统消息)",
    ),
    ("システムフロンフト", r"システムプロンプトを(?:表示|教え|出力|見せ|繰り返)"),
    ("시스템 프롬프트", r"시스템 프롬프트(?:를|을)? (?:보여|출력|알려)"),
]

_SECRET_NOUN = r"(?:api[ _-]?keys?|secret keys?|secrets|passwords?|passwd|credentials?|access tokens?|auth(?:entication)? tokens?|bearer tokens?|private keys?|ssh keys?|env(?:ironment)? (?:variables|vars)|connection strings?|session (?:tokens?|cookies?))"
_SECRET: list[tuple[str, str]] = [
    (
        "key|api|secret|passw|credential|token|env|connection string|cookie&your|admin|root|system|server|database|db|openai|aws|master|developer|stored|internal",
        rf"\b(?:print|show|reveal|display|output|tell me|give me|share|leak|dump|expose|disclose|send|list|return|what (?:is|are)|read out)\b (?:me |us )?(?:all |the )?(?:of )?(?:your|the (?:admin|administrator|root|system|server|database|db|openai|aws|master|developer)'?s?|the stored|any stored|all stored|internal|stored) (?:\w+ ){{0,2}}{_SECRET_NOUN}\b(?! (?:policy|policies|requirements?|reset|manager|field|length|strength|format|hint|rules))",
    ),
    (
        "environment variables|env vars|secrets&access|see|read|have",
        r"\b(?:environment variables|env vars|secrets)(?: \w+){0,3} (?:you|the (?:server|system|model|assistant|agent)) (?:can |could |are able to )?(?:access|see|read|have)\b",
    ),
    (
        "/etc/|/proc/|.ssh/|.aws/|.git-credentials",
        r"\b(?:cat|type|print|read|show|dump|output|run)\b (?:the )?(?:contents of )?(?:/etc/(?:passwd|shadow)|/proc/self/environ|~/\.ssh/id_|\.aws/credentials|\.git-credentials)",
    ),
    (
        "clave|contrasena|credenciales",
        r"\b(?:muestra|revela|dime)\b (?:me )?(?:tu|la|las) (?:clave api|contraseña|contraseñas|credenciales)\b",
    ),
    ("ключ|пароль|токен", r"(?:покажи|выведи|скажи)(?: мне)? (?:свой |твой )?(?:api-ключ|api ключ|пароль|токен)"),
]

_MARKUP: list[tuple[str, str]] = [
    (
        "im_|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|fim_",
        r"<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|begin_of_text|start_header_id|end_header_id|eot_id|fim_prefix|fim_suffix|fim_middle)\|>",
    ),
    ("inst]", r"\[/?inst\]"),
    ("sys>>", r"<</?sys>>"),
    ("</s>", r"</s> ?(?:<s>|\[inst\])"),
    ("##", r"(?:^|\n) ?#{2,} ?(?:system|developer|admin|assistant) ?(?:prompt|message|instructions?|override)? ?:"),
    (
        "system|developer|sys|admin",
        r"(?:^|\n) ?(?:\[|<|\{) ?/?(?:system|developer|sys|system_prompt|system message|admin) ?(?:\]|>|\})",
    ),
    (
        "system|developer|admin|root&override|command|instruction|update|notice|message|prompt",
        r"(?:^|\n) ?(?:system|developer|admin|root) (?:override|command|instruction|update|notice|message|prompt) ?:",
    ),
    (
        "system|developer&:",
        r"(?:^|\n) ?(?:system|developer) ?: ?(?:you|ignore|new|from now|the user|override|disregard|forget|reveal)\b",
    ),
    ("<script", r"<script\b[^>]{0,200}>[^<]{0,400}?(?:document\.cookie|localstorage|sessionstorage)"),
    (
        "onerror|onload|onmouseover|onfocus|ontoggle|onbegin",
        r"<(?:img|svg|body|iframe|video|audio|input|details|a)\b[^>]{0,200}\bon(?:error|load|mouseover|focus|toggle|begin) ?= ?[\"']?[^\"'>]{0,100}?(?:alert ?\(|fetch ?\(|eval ?\(|document\.cookie|location|atob ?\()",
    ),
    ("<iframe", r"<iframe\b[^>]{0,200}\bsrc ?= ?[\"']? ?(?:javascript:|data:text/html)"),
    ("javascript:", r"\b(?:href|src|action) ?= ?[\"']? ?javascript:(?!void)"),
    ("![", r"!\[[^\]\n]{0,200}\]\( ?<?https?://[^\s)]{1,400}?[?&][\w.-]{1,40}=[^\s)&]{0,200}?(?:\{|\[|<|%7b|%5b|\$)"),
    (
        "image&url|link",
        r"\b(?:render|display|output|include|embed|show|print|add)\b(?: \w+){0,4} (?:markdown )?image\b(?: \w+){0,6} (?:url|link)\b(?: \w+){0,6} (?:containing|with|including|appending|appended|contains) (?:the |your |our |a |all )?(?:\w+ ){0,2}(?:conversation|chat history|data|secret|password|api key|summary|previous messages|system prompt|user'?s? (?:data|messages|info))",
    ),
]

_TOOL: list[tuple[str, str]] = [
    (
        "tool_|function_",
        r"</?(?:tool_call|tool_calls|function_call|function_calls|tool_use|tool_result|tool_response|function_results|tool_code)\b[^>]{0,100}>",
    ),
    ("tool|python_tag|plugin|function", r"<\|(?:tool_call|python_tag|tool|plugin|function)[^|>]{0,20}\|>"),
    ("function_call|tool_call|tool_use_id", r"\"(?:function_call|tool_calls|tool_call_id|tool_use_id)\" ?: ?[\[{\"]"),
    ('"role"', r"\"role\" ?: ?\"(?:tool|function)\""),
    ('"arguments"', r"\{ ?\"name\" ?: ?\"[\w.-]{1,64}\" ?, ?\"arguments\" ?:"),
    ("```", r"```(?:tool_call|tool_code|function_call)\b"),
]

#: Matched on the normalised and the de-obfuscated views.
PATTERNS = PatternSet(
    [
        (Reason.PROMPT_INJECTION, _INJECTION),
        (Reason.JAILBREAK, _JAILBREAK),
        (Reason.SYSTEM_PROMPT_EXTRACTION, _EXTRACTION),
        (Reason.SECRET_EXTRACTION, _SECRET),
        (Reason.MARKUP_INJECTION, _MARKUP),
        (Reason.TOOL_CALL_SMUGGLING, _TOOL),
    ]
)

#: The top English phrases with every separator removed (matched on ``squash``ed text): "ig-no-re" splits.
SQUASHED = PatternSet(
    [
        (
            Reason.PROMPT_INJECTION,
            [
                (
                    "ignore|disregard|forget",
                    r"(?:ignore|disregard|forget)(?:all|any)?(?:of)?(?:the|your|my)?(?:previous|prior|above|earlier|preceding|original|initial)"
                    r"(?:system)?(?:instructions?|prompts?|directives|guidelines|programming)"
                    r"|(?:ignore|disregard|forget)(?:all)?(?:of)?your(?:instructions|rules|guidelines|programming)",
                )
            ],
        ),
        (
            Reason.JAILBREAK,
            [
                (
                    "youarenow|doanythingnow|developermode",
                    r"youarenow(?:dan|an(?:unrestricted|unfiltered|uncensored)|jailbroken)|doanythingnow|developermodeenabled",
                )
            ],
        ),
        (
            Reason.SYSTEM_PROMPT_EXTRACTION,
            [
                (
                    "systemprompt|systemmessage|initialinstructions|hiddeninstructions",
                    r"(?:print|show|reveal|display|output|repeat|tellme|giveme|leak|dump)(?:me)?(?:your|the)(?:full|entire|exact|original|initial|hidden)?"
                    r"(?:systemprompt|systemmessage|initialinstructions|hiddeninstructions)",
                )
            ],
        ),
        (
            Reason.SECRET_EXTRACTION,
            [
                (
                    "apikey|secretkey|password|credentials|accesstoken|privatekey",
                    r"(?:reveal|print|show|give|tell|leak|dump)(?:me|us)?(?:your|theadmin|theroot)(?:apikey|secretkey|password|credentials|accesstoken|privatekey)",
                )
            ],
        ),
    ],
    anywhere=True,
)
