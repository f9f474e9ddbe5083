//! Chinese (default) and English. Every visible string is written at its use as a pair
//! `l.t("中文", "English")`, so no string can miss its translation.

/// The page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// 中文 (default).
    Zh,
    /// English.
    En,
}

impl Lang {
    /// From the `lang` cookie value.
    pub fn from_cookie(v: Option<&str>) -> Self {
        match v {
            Some("en") => Lang::En,
            _ => Lang::Zh,
        }
    }

    /// The `lang` attribute of the page.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The other language: (cookie value, its own name).
    pub fn other(self) -> (&'static str, &'static str) {
        match self {
            Lang::Zh => ("en", "English"),
            Lang::En => ("zh", "中文"),
        }
    }

    /// The string in this language.
    pub fn t(self, zh: &'static str, en: &'static str) -> &'static str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_is_the_default_and_english_the_switch() {
        assert_eq!(Lang::from_cookie(None), Lang::Zh);
        assert_eq!(Lang::from_cookie(Some("fr")), Lang::Zh);
        assert_eq!(Lang::from_cookie(Some("en")), Lang::En);
        assert_eq!(Lang::Zh.t("案件", "Case"), "案件");
        assert_eq!(Lang::En.t("案件", "Case"), "Case");
        assert_eq!(Lang::Zh.other().0, "en");
    }
}
