//! Fragment ids: the names of the recorded prompt pieces in `prompts/manifest.toml`.
//!
//! An id names *what is said*, not a file: `and_will_be_back` is "og er tilbage" in Danish and
//! "and will be back" in English. The ids below are the sentence pieces the IVR and the grammars
//! use by name; numbers, ordinals, weekdays, months and digits are built by the constructors
//! (`num_14`, `ord_24`, `weekday_monday`, `month_november`, `digit_7`).

use std::borrow::Cow;
use std::fmt;

use chrono::Weekday;

/// The id of one prompt fragment, as written in `prompts/manifest.toml`.
///
/// A `Cow` so the named fragments are `const` and the generated ones (`num_37`) need no table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FragmentId(Cow<'static, str>);

impl FragmentId {
    /// A fragment id known at compile time.
    pub const fn from_static(id: &'static str) -> Self {
        Self(Cow::Borrowed(id))
    }

    /// The id as the manifest spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cardinal number as a whole word: 0–59 and the tens 60, 70, 80, 90 exist (times need
    /// every minute; larger numbers are composed by the grammars).
    pub fn number(n: u32) -> Self {
        Self(Cow::Owned(format!("num_{n}")))
    }

    /// A day-of-month ordinal, 1–31 ("fireogtyvende", "tjugofjärde", "twenty-fourth").
    pub fn ordinal(day: u32) -> Self {
        Self(Cow::Owned(format!("ord_{day}")))
    }

    /// One digit as read in a phone number (da "en", not the clock's "et").
    pub fn digit(d: u32) -> Self {
        Self(Cow::Owned(format!("digit_{d}")))
    }

    /// A weekday's name.
    pub fn weekday(day: Weekday) -> Self {
        let name = match day {
            Weekday::Mon => "weekday_monday",
            Weekday::Tue => "weekday_tuesday",
            Weekday::Wed => "weekday_wednesday",
            Weekday::Thu => "weekday_thursday",
            Weekday::Fri => "weekday_friday",
            Weekday::Sat => "weekday_saturday",
            Weekday::Sun => "weekday_sunday",
        };
        Self::from_static(name)
    }

    /// A month's name; `month` is 1–12 as in [`chrono::Datelike::month`]. Out of range is a
    /// caller bug and yields an id the manifest does not have, which the library reports.
    pub fn month(month: u32) -> Self {
        const MONTHS: [&str; 12] = [
            "month_january",
            "month_february",
            "month_march",
            "month_april",
            "month_may",
            "month_june",
            "month_july",
            "month_august",
            "month_september",
            "month_october",
            "month_november",
            "month_december",
        ];
        match month.checked_sub(1).and_then(|i| MONTHS.get(i as usize)) {
            Some(name) => Self::from_static(name),
            None => Self(Cow::Owned(format!("month_{month}"))),
        }
    }
}

impl fmt::Display for FragmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Declares the named fragments and the list of all of them (used by the manifest tests).
macro_rules! named_fragments {
    ($($(#[$doc:meta])* $name:ident = $id:literal;)+) => {
        $( $(#[$doc])* pub const $name: FragmentId = FragmentId::from_static($id); )+

        /// Every named fragment, in declaration order.
        pub const NAMED: &[FragmentId] = &[$($name),+];
    };
}

named_fragments! {
    // Language independent (prompts/common).
    /// The record tone: 1000 Hz, 400 ms.
    BEEP = "beep";

    // Deposit: the greeting.
    /// "Welcome."
    WELCOME = "welcome";
    /// "You have called" (followed by the name).
    YOU_HAVE_CALLED = "you_have_called";
    /// "is on the phone."
    IS_ON_THE_PHONE = "is_on_the_phone";
    /// "is in a meeting"
    IS_IN_A_MEETING = "is_in_a_meeting";
    /// "is at lunch"
    IS_AT_LUNCH = "is_at_lunch";
    /// "is on a break"
    IS_ON_A_BREAK = "is_on_a_break";
    /// "is on holiday"
    IS_ON_HOLIDAY = "is_on_holiday";
    /// "is ill"
    IS_ILL = "is_ill";
    /// "has gone for the day"
    HAS_GONE_FOR_TODAY = "has_gone_for_today";
    /// "is out of the office"
    IS_OUT_OF_OFFICE = "is_out_of_office";
    /// "is away" (a custom reason: its free text is for colleagues, not callers).
    IS_AWAY = "is_away";
    /// "is not available."
    IS_NOT_AVAILABLE = "is_not_available";
    /// "and will be back"
    AND_WILL_BE_BACK = "and_will_be_back";

    // Time and date words.
    /// "at" before a time: da "klokken", sv "klockan".
    AT = "at";
    /// "at midnight": da "ved midnat", sv "vid midnatt".
    AT_MIDNIGHT = "at_midnight";
    /// English only: "at noon".
    AT_NOON = "at_noon";
    /// English only: "oh" in "eight oh five".
    OH = "oh";
    /// English only: "a.m."
    AM = "am";
    /// English only: "p.m."
    PM = "pm";
    /// "on" before a date: da/sv "på".
    ON = "on";
    /// "the" before a day-of-month ordinal: da/sv "den".
    THE = "the";
    /// English only: "of" in "the 24th of November".
    OF = "of";
    /// "today"
    TODAY = "today";
    /// "tomorrow"
    TOMORROW = "tomorrow";
    /// "yesterday"
    YESTERDAY = "yesterday";
    /// "and": da "og", sv "och" (also inside Swedish times and Danish numbers).
    AND = "and";
    /// "hundred"
    HUNDRED = "hundred";
    /// "thousand"
    THOUSAND = "thousand";
    /// "one" agreeing with "message": da "en", sv "ett".
    COUNT_ONE = "count_one";
    /// The `*` key: "star".
    STAR = "star";
    /// The `#` key: "hash" (da "firkant", sv "fyrkant").
    POUND = "pound";
    /// "plus" of an international number.
    PLUS = "plus";

    // Deposit: options and recording.
    /// "press" (followed by a digit).
    PRESS = "press";
    /// Danish only: "For dansk tast 5." The offers' keys are fixed (`ivr::deposit`), so the
    /// digit is part of the phrase: one intonation, and shorter than "… tast" + a digit.
    FOR_DANISH_PRESS_5 = "for_danish_press_5";
    /// Swedish only: "För svenska tryck 5."
    FOR_SWEDISH_PRESS_5 = "for_swedish_press_5";
    /// English only: "For English press 5."
    FOR_ENGLISH_PRESS_5 = "for_english_press_5";
    /// "Press 9 for reception." ("Tast 9 for omstilling.")
    PRESS_9_FOR_RECEPTION = "press_9_for_reception";
    /// "Leave a message after the tone."
    LEAVE_A_MESSAGE_AFTER_THE_TONE = "leave_a_message_after_the_tone";
    /// "Thank you for your message. Goodbye."
    THANK_YOU_GOODBYE = "thank_you_goodbye";
    /// "Goodbye."
    GOODBYE = "goodbye";
    /// "Your message was too short and has not been saved."
    YOUR_MESSAGE_WAS_TOO_SHORT = "your_message_was_too_short";

    // Retrieval.
    /// "Please enter your pin code."
    PLEASE_ENTER_YOUR_PIN = "please_enter_your_pin";
    /// "Please enter your local number."
    PLEASE_ENTER_YOUR_LOCAL_NUMBER = "please_enter_your_local_number";
    /// "Wrong pin code."
    WRONG_PIN = "wrong_pin";
    /// "Your mailbox is locked. Please contact your administrator."
    MAILBOX_LOCKED = "mailbox_locked";
    /// "You have"
    YOU_HAVE = "you_have";
    /// "new message"
    NEW_MESSAGE = "new_message";
    /// "new messages"
    NEW_MESSAGES = "new_messages";
    /// "saved message"
    SAVED_MESSAGE = "saved_message";
    /// "saved messages"
    SAVED_MESSAGES = "saved_messages";
    /// "You have no messages."
    NO_MESSAGES = "no_messages";
    /// "Message number" (followed by a number).
    MESSAGE_NUMBER = "message_number";
    /// "Message received" (followed by when).
    MESSAGE_RECEIVED = "message_received";
    /// "from number" (followed by digits).
    FROM_NUMBER = "from_number";
    /// "from an unknown number."
    UNKNOWN_NUMBER = "unknown_number";
    /// Main menu, key 1: "To hear new messages, press 1."
    MENU_NEW_MESSAGES = "menu_new_messages";
    /// Main menu, key 2: "For saved messages, press 2."
    MENU_SAVED_MESSAGES = "menu_saved_messages";
    /// Main menu, key 0: "For mailbox options, press 0."
    MENU_MAILBOX_OPTIONS = "menu_mailbox_options";
    /// Key *: "For help, press star."
    MENU_HELP = "menu_help";
    /// Key #: "To exit, press hash."
    MENU_EXIT = "menu_exit";
    /// Message menu, key 3: "For the time and the caller's number, press 3."
    MENU_MESSAGE_ENVELOPE = "menu_message_envelope";
    /// Message menu, key 4: "For the previous message, press 4."
    MENU_MESSAGE_PREVIOUS = "menu_message_previous";
    /// Message menu, key 5: "To replay the message, press 5."
    MENU_MESSAGE_REPLAY = "menu_message_replay";
    /// Message menu, key 6: "For the next message, press 6."
    MENU_MESSAGE_NEXT = "menu_message_next";
    /// Message menu, key 7: "To delete the message, press 7."
    MENU_MESSAGE_DELETE = "menu_message_delete";
    /// Message menu, key 9: "To save the message, press 9."
    MENU_MESSAGE_SAVE = "menu_message_save";
    /// Key * in a sub-menu: "To return to the main menu, press star."
    MENU_RETURN = "menu_return";
    /// Options menu, key 1: "To record your greeting, press 1."
    MENU_OPTIONS_GREETING = "menu_options_greeting";
    /// Options menu, key 3: "To record your name, press 3."
    MENU_OPTIONS_NAME = "menu_options_name";
    /// Options menu, key 5: "To change your pin code, press 5."
    MENU_OPTIONS_PIN = "menu_options_pin";
    /// "Message deleted."
    MESSAGE_DELETED = "message_deleted";
    /// "Message saved."
    MESSAGE_SAVED = "message_saved";
    /// "Message undeleted."
    UNDELETED = "undeleted";
    /// "There are no more messages."
    END_OF_MESSAGES = "end_of_messages";
    /// "Say your name after the tone."
    RECORD_YOUR_NAME = "record_your_name";
    /// "Record your greeting after the tone."
    RECORD_YOUR_GREETING = "record_your_greeting";
    /// "Record after the tone."
    AFTER_THE_TONE_RECORD = "after_the_tone_record";
    /// "Press hash when you have finished."
    PRESS_POUND_WHEN_DONE = "press_pound_when_done";
    /// "To accept, press" (followed by a digit; 1 in our layout).
    TO_ACCEPT_PRESS = "to_accept_press";
    /// "To listen to the recording, press" (2).
    TO_LISTEN_PRESS = "to_listen_press";
    /// "To record again, press" (3).
    TO_RERECORD_PRESS = "to_rerecord_press";
    /// "Enter your new pin code."
    ENTER_NEW_PIN = "enter_new_pin";
    /// "Enter the new pin code again."
    ENTER_NEW_PIN_AGAIN = "enter_new_pin_again";
    /// "The pin codes do not match."
    PINS_DO_NOT_MATCH = "pins_do_not_match";
    /// "Your pin code has been changed."
    PIN_CHANGED = "pin_changed";
    /// "That pin code is not allowed. Please choose another."
    PIN_NOT_ALLOWED = "pin_not_allowed";
    /// "You must change your pin code before you continue."
    YOU_MUST_CHANGE_YOUR_PIN = "you_must_change_your_pin";
    /// "Invalid choice."
    INVALID_CHOICE = "invalid_choice";
    /// "Are you still there?" (after a time-out with no key pressed).
    ARE_YOU_STILL_THERE = "are_you_still_there";
}

/// The fragment that offers `lang` to a caller ("For English press 5."), spoken in `lang`
/// itself: the caller who needs it does not understand the call's language.
pub fn language_offer(lang: crate::domain::Lang) -> FragmentId {
    use crate::domain::Lang;
    match lang {
        Lang::Da => FOR_DANISH_PRESS_5,
        Lang::Sv => FOR_SWEDISH_PRESS_5,
        Lang::En => FOR_ENGLISH_PRESS_5,
    }
}
