from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import AnyOf, DataRequired, Length, Regexp

from app.halls.models import WINDOW_KINDS


class WindowForm(FlaskForm):
    """A new window. Categories come as a multi-select list and are checked by the service."""

    number = StringField("窗口号", validators=[DataRequired(), Regexp(r"^[0-9A-Za-z-]{1,10}$")])
    name = StringField("窗口名称", validators=[DataRequired(), Length(max=100)])
    kind = StringField("类型", validators=[DataRequired(), AnyOf(WINDOW_KINDS)])


class CountyForm(FlaskForm):
    county_code = StringField("县区", validators=[DataRequired(), Regexp(r"^[0-9]{12}$")])
